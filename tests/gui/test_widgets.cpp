// Widgets under the offscreen platform: the main window end to end (queue → run → preview), the compare
// view's pixel accuracy at 100 %, the shortcuts, and the memory sweep behind the memory panel.
#include <QAction>
#include <QCheckBox>
#include <QClipboard>
#include <QDir>
#include <QMimeData>
#include <QUrl>
#include <QSignalSpy>
#include <QStatusBar>
#include <QTemporaryDir>
#include <QTest>
#include <cmath>

#include "about.h"
#include "compare_view.h"
#include "controls_panel.h"
#include "image_display.h"
#include "gui_test_support.h"
#include "main_window.h"
#include "memory_panel.h"
#include "memory_sweep.h"

using namespace nalasr;
using namespace nalasr::gui;

namespace {

constexpr int kTimeoutMs = 120000;

// Log-log slope of a curve between its last two points: ~1 for linear memory, ~2 for quadratic.
double last_slope(const std::vector<MemoryPoint>& points) {
    const MemoryPoint& a = points[points.size() - 2];
    const MemoryPoint& b = points.back();
    return std::log(double(b.bytes) / double(a.bytes)) / std::log(double(b.tokens) / double(a.tokens));
}

}  // namespace

class WidgetsTest : public QObject {
    Q_OBJECT
private slots:
    void initTestCase();
    void window_runs_the_queue();
    void drop_and_paste_add_images();
    void compare_view_is_pixel_accurate_at_100_percent();
    void shortcuts();
    void memory_sweep_scales_as_expected();
    void memory_panel_computes();
    void about_names_the_version();
    void float_bit_depth_only_for_tiff();
    void keep_colours_checkbox();
    void tta_checkbox();

private:
    QTemporaryDir dir_;
    QString model_path_;
};

void WidgetsTest::initTestCase() {
    QVERIFY(dir_.isValid());
    model_path_ = dir_.filePath("tiny.safetensors");
    test::write_tiny_model(model_path_);
}

void WidgetsTest::window_runs_the_queue() {
    const QString image = dir_.filePath("window.png");
    test::write_random_png(image, 20, 14, 11);
    QSettings settings(dir_.filePath("window.ini"), QSettings::IniFormat);
    AppSettings initial;
    initial.engine = {model_path_, QStringLiteral("cpu")};
    initial.output.folder = dir_.filePath("window_out");
    initial.save(settings);

    MainWindow window(settings);
    window.show();
    QCOMPARE(window.add_paths({image}), 1);
    QCOMPARE(window.add_paths({image}), 0);  // already queued
    QTRY_VERIFY_WITH_TIMEOUT(!window.queue().at(0).image_info.isEmpty(), 10000);
    QCOMPARE(window.queue().at(0).image_info, QStringLiteral("20×14 · RGB 8-bit"));
    // Before the run the preview shows the input at the model's scale.
    QTRY_COMPARE_WITH_TIMEOUT(window.compare_view().output_size(), QSize(40, 28), 10000);

    QSignalSpy running(&window.controller(), &QueueController::runningChanged);
    window.action("run")->trigger();
    QTRY_VERIFY_WITH_TIMEOUT(running.size() == 2, kTimeoutMs);  // started, then stopped
    const QueueItem& item = window.queue().at(0);
    QVERIFY2(item.state == JobState::Done, qPrintable(item.result.message));
    QVERIFY(QFile::exists(dir_.filePath("window_out/window_x2.png")));
    QVERIFY(window.statusBar()->currentMessage().contains("1 done"));
    QVERIFY(window.queue().data(window.queue().index(0), Qt::DisplayRole).toString().contains("280 tokens"));
    window.close();  // writes the settings back
    const AppSettings stored = AppSettings::load(settings);
    QVERIFY(stored.engine == initial.engine);
    QCOMPARE(stored.output.folder, initial.output.folder);
    QVERIFY(!stored.window_geometry.isEmpty());
}

void WidgetsTest::drop_and_paste_add_images() {
    QSettings settings(dir_.filePath("drop.ini"), QSettings::IniFormat);
    MainWindow window(settings);
    const QString folder = dir_.filePath("dropped");
    QDir().mkpath(folder + "/sub");
    test::write_random_png(folder + "/a.png", 8, 8, 21);
    test::write_random_png(folder + "/sub/b.png", 8, 8, 22);

    QMimeData mime;
    mime.setUrls({QUrl::fromLocalFile(folder)});
    QDragEnterEvent enter(QPoint(10, 10), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
    QApplication::sendEvent(&window, &enter);
    QVERIFY(enter.isAccepted());
    QDropEvent drop(QPointF(10, 10), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
    QApplication::sendEvent(&window, &drop);
    QCOMPARE(window.queue().rowCount(), 2);  // the folder and its subfolder

    QImage bitmap(9, 7, QImage::Format_RGB32);
    bitmap.fill(Qt::darkCyan);
    QApplication::clipboard()->setImage(bitmap);
    window.action("paste")->trigger();
    QCOMPARE(window.queue().rowCount(), 3);
    QTRY_COMPARE_WITH_TIMEOUT(window.queue().at(2).image_info, QStringLiteral("9×7 · RGB 8-bit"), 10000);
    QFile::remove(window.queue().at(2).input);
}

void WidgetsTest::compare_view_is_pixel_accurate_at_100_percent() {
    const QImage input = test::random_qimage(60, 45, 1);
    const QImage after = test::random_qimage(120, 90, 2);
    const QImage bicubic = bicubic_upscale(input, 2, 1 << 20);
    CompareView view;
    view.resize(300, 200);  // smaller than the image: the view is cropped, not scaled
    view.set_resampler(BeforeResampler::Nearest);
    view.set_images({input, bicubic, 2, after});
    view.zoom_to_actual_size();
    QCOMPARE(view.zoom(), 1.0);
    const QPointF origin = view.map_to_widget({0, 0});
    QCOMPARE(origin.x(), std::round(origin.x()));

    // Check a band away from the corner labels and the split handle.
    auto check = [&](const char* what, double split, auto expected_at) {
        view.set_split(split);
        const QImage shot = view.grab().toImage().convertToFormat(QImage::Format_RGBA8888);
        int mismatches = 0, checked = 0;
        for (int y = 40; y < view.height() - 40; ++y)
            for (int x = 20; x < view.width() - 20; ++x) {
                const int ox = x - int(origin.x()), oy = y - int(origin.y());
                if (ox < 0 || oy < 0 || ox >= 120 || oy >= 90) continue;
                ++checked;
                if (shot.pixelColor(x, y) != expected_at(ox, oy)) ++mismatches;
            }
        qInfo("%s: %d of %d pixels differ", what, mismatches, checked);
        QVERIFY(checked > 5000);
        QCOMPARE(mismatches, 0);
    };
    check("after", 0.0, [&](int x, int y) { return after.pixelColor(x, y); });
    check("before, nearest", 1.0, [&](int x, int y) { return input.pixelColor(x / 2, y / 2); });
    view.set_resampler(BeforeResampler::Bicubic);
    check("before, bicubic", 1.0, [&](int x, int y) { return bicubic.pixelColor(x, y); });
}

void WidgetsTest::shortcuts() {
    QSettings settings(dir_.filePath("shortcuts.ini"), QSettings::IniFormat);
    MainWindow window(settings);
    const std::pair<const char*, QKeySequence> expected[] = {
        {"open", QKeySequence(QKeySequence::Open)},         {"run", QKeySequence(Qt::CTRL | Qt::Key_R)},
        {"cancel", QKeySequence(Qt::Key_Escape)},           {"zoom_in", QKeySequence(Qt::CTRL | Qt::Key_Equal)},
        {"zoom_out", QKeySequence(Qt::CTRL | Qt::Key_Minus)}, {"zoom_fit", QKeySequence(Qt::CTRL | Qt::Key_0)},
        {"zoom_100", QKeySequence(Qt::CTRL | Qt::Key_1)},   {"paste", QKeySequence(QKeySequence::Paste)},
    };
    for (const auto& [name, keys] : expected) {
        QAction* action = window.action(name);
        QVERIFY2(action, name);
        QCOMPARE(action->shortcut(), keys);
    }
    // The keys reach the compare view.
    window.show();
    QVERIFY(QTest::qWaitForWindowActive(&window));
    window.compare_view().set_images({test::random_qimage(64, 48, 3), {}, 2, {}});
    QTest::keyClick(&window, Qt::Key_1, Qt::ControlModifier);
    QCOMPARE(window.compare_view().zoom(), 1.0);
    QTest::keyClick(&window, Qt::Key_Equal, Qt::ControlModifier);
    QCOMPARE(window.compare_view().zoom(), 1.25);
}

void WidgetsTest::memory_sweep_scales_as_expected() {
    MemorySweepOptions options;
    options.sides = {32, 64, 128, 256, 512};
    options.measure_up_to_side = 32;
    options.engine.backend = BackendKind::Cpu;
    MemorySweep sweep;
    const Status st = sweep_memory(test::tiny_config(), options, &sweep);
    QVERIFY2(st.is_ok(), st.message().c_str());
    QCOMPARE(sweep.curves.size(), std::size_t(3));
    for (const MemoryCurve& curve : sweep.curves) {
        QCOMPARE(curve.predicted.size(), options.sides.size());
        for (std::size_t i = 1; i < curve.predicted.size(); ++i)
            QVERIFY(curve.predicted[i].bytes > curve.predicted[i - 1].bytes);
        QCOMPARE(curve.measured.size(), std::size_t(1));
        const double ratio = double(curve.measured[0].bytes) / double(curve.predicted[0].bytes);
        qInfo("%-7s slope %.2f (log-log, 256²→512²), measured/predicted at 32² %.3f, largest square %d",
              attention_kind_name(curve.kind), last_slope(curve.predicted), ratio, curve.largest_side_that_fits);
        QVERIFY(curve.largest_side_that_fits > 0);
    }
    // NaLa (and Pola) memory grows linearly with tokens; softmax's attention matrix grows quadratically.
    QVERIFY(last_slope(sweep.curves[0].predicted) < 1.3);
    QVERIFY(last_slope(sweep.curves[2].predicted) > 1.6);
    QVERIFY(sweep.curves[0].largest_side_that_fits > sweep.curves[2].largest_side_that_fits);
}

void WidgetsTest::memory_panel_computes() {
    MemoryPanel panel;
    panel.resize(700, 450);
    panel.set_engine_spec({model_path_, QStringLiteral("cpu")});
    QSignalSpy computed(&panel, &MemoryPanel::computed);
    panel.compute();
    QVERIFY(computed.wait(kTimeoutMs));
    QCOMPARE(computed.at(0).at(0).toBool(), true);
}

void WidgetsTest::about_names_the_version() {
    QVERIFY(about_text().contains(QString::fromStdString(version_string())));
}

void WidgetsTest::float_bit_depth_only_for_tiff() {
    ControlsPanel panel;
    AppSettings settings;
    settings.output.format = OutputFormat::Tiff;
    settings.output.bit_depth = OutputBitDepth::F32;
    panel.load(settings);
    AppSettings stored;
    panel.store(&stored);
    QCOMPARE(stored.output.bit_depth, OutputBitDepth::F32);
    settings.output.format = OutputFormat::Png;  // PNG cannot hold float: back to "Same as input"
    panel.load(settings);
    panel.store(&stored);
    QCOMPARE(stored.output.bit_depth, OutputBitDepth::KeepInput);
    settings.output.bit_depth = OutputBitDepth::U16;
    panel.load(settings);
    panel.store(&stored);
    QCOMPARE(stored.output.bit_depth, OutputBitDepth::U16);
}

namespace {

// The controls panel's checkbox `name` with `text` is off by default and lands in (and comes from) `option`.
void check_output_checkbox(const char* name, const QString& text, bool OutputOptions::*option) {
    ControlsPanel panel;
    auto* box = panel.findChild<QCheckBox*>(QLatin1String(name));
    QVERIFY(box);
    QCOMPARE(box->text(), text);
    AppSettings stored;
    panel.store(&stored);
    QVERIFY(!(stored.output.*option));  // off by default
    QSignalSpy changed(&panel, &ControlsPanel::changed);
    box->setChecked(true);
    QCOMPARE(changed.count(), 1);
    panel.store(&stored);
    QVERIFY(stored.output.*option);
    AppSettings settings;
    panel.load(settings);  // loading does not signal a change
    QVERIFY(!box->isChecked());
    QCOMPARE(changed.count(), 1);
    settings.output.*option = true;
    panel.load(settings);
    QVERIFY(box->isChecked());
}

}  // namespace

void WidgetsTest::keep_colours_checkbox() {
    check_output_checkbox("keep_colours", QStringLiteral("Keep input colours"), &OutputOptions::keep_colours);
}

void WidgetsTest::tta_checkbox() {
    check_output_checkbox("tta", QStringLiteral("TTA (8× slower, slightly more accurate)"), &OutputOptions::tta);
}

QTEST_MAIN(WidgetsTest)
#include "test_widgets.moc"
