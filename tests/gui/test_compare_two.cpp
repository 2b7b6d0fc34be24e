// Comparing two results in the split view: the left side switches between the input and another result (a
// second model's output or any image of the same aspect), the labels say which is which, a different aspect
// ratio is refused with a message, and at 100 % both sides are pixel-exact.
#include <QComboBox>
#include <QSettings>
#include <QSignalSpy>
#include <QStatusBar>
#include <QTemporaryDir>
#include <QTest>

#include "compare_view.h"
#include "gui_test_support.h"
#include "image_display.h"
#include "main_window.h"
#include "other_result.h"

using namespace nalasr;
using namespace nalasr::gui;

namespace {

// The screen pixel under output pixel (x, y) of the view at 100 %.
QColor shown_at(CompareView& view, int x, int y) {
    const QPointF at = view.map_to_widget({x + 0.5, y + 0.5});
    return view.grab().toImage().convertToFormat(QImage::Format_RGBA8888).pixelColor(int(at.x()), int(at.y()));
}

}  // namespace

class CompareTwoTest : public QObject {
    Q_OBJECT
private slots:
    void init();
    void left_side_switches_to_the_other_result_and_back();
    void labels_name_both_sides();
    void a_different_aspect_ratio_is_refused();
    void a_smaller_result_of_the_same_aspect_is_fitted();
    void both_sides_are_pixel_exact_at_100_percent();
    void a_new_image_drops_the_other_result();
    void window_compares_with_a_chosen_file();

private:
    QImage input_ = test::random_qimage(60, 45, 1);
    QImage after_ = test::random_qimage(120, 90, 2);
    QImage other_ = test::random_qimage(120, 90, 3);
    CompareView view_;
};

void CompareTwoTest::init() {
    view_.resize(300, 200);  // smaller than the image at 100 %: cropped, not scaled
    view_.set_resampler(BeforeResampler::Nearest);
    view_.clear();
    view_.set_images({input_, QImage(), 2, after_});
    view_.zoom_to_actual_size();
    view_.set_split(1.0);  // all left side, away from the handle
}

void CompareTwoTest::left_side_switches_to_the_other_result_and_back() {
    QSignalSpy changed(&view_, &CompareView::leftSideChanged);
    QCOMPARE(view_.left_side(), LeftSide::Before);
    QCOMPARE(shown_at(view_, 30, 20), input_.pixelColor(15, 10));

    QCOMPARE(view_.set_other_result(other_, "photo_pola_x4.png"), QString());
    QVERIFY(view_.has_other_result());
    QCOMPARE(view_.left_side(), LeftSide::OtherResult);
    QCOMPARE(shown_at(view_, 30, 20), other_.pixelColor(30, 20));

    view_.set_left_side(LeftSide::Before);
    QCOMPARE(shown_at(view_, 30, 20), input_.pixelColor(15, 10));
    QVERIFY(view_.has_other_result());  // kept for switching back
    view_.set_left_side(LeftSide::OtherResult);
    QCOMPARE(shown_at(view_, 30, 20), other_.pixelColor(30, 20));
    QCOMPARE(changed.size(), 3);
}

void CompareTwoTest::labels_name_both_sides() {
    QCOMPARE(view_.left_label(), QStringLiteral("Before · nearest ×2"));
    QCOMPARE(view_.right_label(), QStringLiteral("After · NalaSR ×2"));
    QCOMPARE(view_.set_other_result(other_, "photo_pola_x4.png"), QString());
    QCOMPARE(view_.left_label(), QStringLiteral("Other · photo_pola_x4.png"));
    QCOMPARE(view_.right_label(), QStringLiteral("After · NalaSR ×2"));
    view_.set_left_side(LeftSide::Before);
    QCOMPARE(view_.left_label(), QStringLiteral("Before · nearest ×2"));
}

void CompareTwoTest::a_different_aspect_ratio_is_refused() {
    const QString error = view_.set_other_result(test::random_qimage(120, 120, 4), "square.png");
    QVERIFY2(error.contains("square.png") && error.contains("aspect ratios differ") && error.contains("120 × 90"),
             qPrintable(error));
    QVERIFY(!view_.has_other_result());
    QCOMPARE(view_.left_side(), LeftSide::Before);
    QCOMPARE(shown_at(view_, 30, 20), input_.pixelColor(15, 10));
    QCOMPARE(view_.left_label(), QStringLiteral("Before · nearest ×2"));
}

void CompareTwoTest::a_smaller_result_of_the_same_aspect_is_fitted() {
    // A ×2 result next to a ×4 one: brought onto the ×4 grid.
    const OtherResult half = fit_other_result(test::random_qimage(60, 45, 5), {120, 90}, "x2.png");
    QVERIFY(half.error.isEmpty());
    QCOMPARE(half.image.size(), QSize(120, 90));
    // 61×45 at ×1.5 rounds to 92×68, at ×4 it is 244×180: the same picture.
    QVERIFY(fit_other_result(test::random_qimage(92, 68, 6), {244, 180}, "x1.5.png").error.isEmpty());
    QVERIFY(!fit_other_result(test::random_qimage(64, 45, 7), {120, 90}, "wide.png").error.isEmpty());
    // An exact size is kept as is, pixel for pixel.
    QCOMPARE(fit_other_result(other_, {120, 90}, "same.png").image, other_);
}

void CompareTwoTest::both_sides_are_pixel_exact_at_100_percent() {
    QCOMPARE(view_.set_other_result(other_, "other.png"), QString());
    QCOMPARE(view_.zoom(), 1.0);
    // Every visible output pixel away from the labels, with the split at its edges: other left, after right.
    auto mismatches = [&](const QImage& expected) {
        const QImage shot = view_.grab().toImage().convertToFormat(QImage::Format_RGBA8888);
        const QPointF origin = view_.map_to_widget({0, 0});
        int differ = 0, checked = 0;
        for (int y = 40; y < view_.height() - 40; ++y)
            for (int x = 20; x < view_.width() - 20; ++x) {
                const int ox = x - int(origin.x()), oy = y - int(origin.y());
                if (ox < 0 || oy < 0 || ox >= 120 || oy >= 90) continue;
                ++checked;
                if (shot.pixelColor(x, y) != expected.pixelColor(ox, oy)) ++differ;
            }
        return checked > 5000 ? differ : -1;
    };
    view_.set_split(1.0);
    QCOMPARE(mismatches(other_), 0);
    view_.set_split(0.0);
    QCOMPARE(mismatches(after_), 0);
    // One sample on each side of a centred split.
    view_.set_split(0.5);
    QCOMPARE(shown_at(view_, 45, 45), other_.pixelColor(45, 45));
    QCOMPARE(shown_at(view_, 75, 45), after_.pixelColor(75, 45));
}

void CompareTwoTest::a_new_image_drops_the_other_result() {
    QCOMPARE(view_.set_other_result(other_, "other.png"), QString());
    view_.set_images({test::random_qimage(40, 30, 8), QImage(), 2, QImage()});  // another item, another size
    QVERIFY(!view_.has_other_result());
    QCOMPARE(view_.left_side(), LeftSide::Before);
    view_.clear();
    QVERIFY(!view_.set_other_result(other_, "other.png").isEmpty());  // nothing to compare with
}

void CompareTwoTest::window_compares_with_a_chosen_file() {
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString input = dir.filePath("photo.png");
    const QString other = dir.filePath("photo_pola.png");
    const QString wide = dir.filePath("wide.png");
    test::write_random_png(input, 20, 14, 11);
    test::write_random_png(other, 40, 28, 12);
    test::write_random_png(wide, 40, 14, 13);
    QSettings settings(dir.filePath("window.ini"), QSettings::IniFormat);
    AppSettings initial;
    const QString model = dir.filePath("tiny.safetensors");  // ×2
    test::write_tiny_model(model);
    initial.engine = {model, QStringLiteral("cpu")};
    initial.save(settings);

    MainWindow window(settings);
    window.show();
    QCOMPARE(window.add_paths({input}), 1);
    QTRY_COMPARE_WITH_TIMEOUT(window.compare_view().output_size(), QSize(40, 28), 10000);
    auto* combo = window.findChild<QComboBox*>("left_side");
    QVERIFY(combo);
    QCOMPARE(combo->count(), 2);  // before, compare with…

    window.compare_with(wide);
    QTRY_VERIFY_WITH_TIMEOUT(window.statusBar()->currentMessage().contains("aspect ratios differ"), 10000);
    QVERIFY(!window.compare_view().has_other_result());

    window.compare_with(other);
    QTRY_VERIFY_WITH_TIMEOUT(window.compare_view().has_other_result(), 10000);
    QCOMPARE(window.compare_view().left_label(), QStringLiteral("Other · photo_pola.png"));
    QCOMPARE(combo->count(), 3);
    QCOMPARE(combo->currentText(), QStringLiteral("Left: photo_pola.png"));

    combo->setCurrentIndex(0);
    emit combo->activated(0);
    QCOMPARE(window.compare_view().left_side(), LeftSide::Before);
    QCOMPARE(combo->currentText(), QStringLiteral("Left: before"));
}

QTEST_MAIN(CompareTwoTest)
#include "test_compare_two.moc"
