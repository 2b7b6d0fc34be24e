// The toolbar's "Left side" choice for the compare view: the input (Before), the other result once one is
// loaded, and "Compare with…", which asks for that other result.
#pragma once

#include <QComboBox>

namespace nalasr::gui {

class CompareView;

class LeftSideCombo : public QComboBox {
    Q_OBJECT
public:
    explicit LeftSideCombo(CompareView* view, QWidget* parent = nullptr);

signals:
    void compareWithRequested();

private:
    enum Entry { ShowBefore, ShowOther, ChooseOther };

    void rebuild();  // from the view's state
    void on_activated(int index);

    CompareView* view_;
};

}  // namespace nalasr::gui
