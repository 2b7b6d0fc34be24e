#include "left_side_combo.h"

#include <QSignalBlocker>

#include "compare_view.h"

namespace nalasr::gui {

LeftSideCombo::LeftSideCombo(CompareView* view, QWidget* parent) : QComboBox(parent), view_(view) {
    setObjectName(QStringLiteral("left_side"));
    setToolTip(tr("What the left side of the split shows"));
    setSizeAdjustPolicy(QComboBox::AdjustToContents);
    rebuild();
    connect(view_, &CompareView::leftSideChanged, this, &LeftSideCombo::rebuild);
    connect(this, &QComboBox::activated, this, &LeftSideCombo::on_activated);
}

void LeftSideCombo::rebuild() {
    const QSignalBlocker blocker(this);
    clear();
    addItem(tr("Left: before"), int(ShowBefore));
    if (view_->has_other_result()) addItem(tr("Left: %1").arg(view_->other_label()), int(ShowOther));
    addItem(tr("Compare with…"), int(ChooseOther));
    setCurrentIndex(findData(int(view_->left_side() == LeftSide::OtherResult ? ShowOther : ShowBefore)));
}

void LeftSideCombo::on_activated(int index) {
    switch (Entry(itemData(index).toInt())) {
        case ShowBefore: view_->set_left_side(LeftSide::Before); break;
        case ShowOther: view_->set_left_side(LeftSide::OtherResult); break;
        case ChooseOther:
            rebuild();  // shows the current side again until an image is chosen
            emit compareWithRequested();
            break;
    }
}

}  // namespace nalasr::gui
