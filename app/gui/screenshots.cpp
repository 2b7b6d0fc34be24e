// nalasr-gui-screenshots: renders the GUI's main states to PNGs for docs/screenshots, headless
// (QT_QPA_PLATFORM=offscreen, QWidget::grab). Driven by make_screenshots.sh.
//
//   nalasr-gui-screenshots <out_dir> <image> [model.safetensors]
//
// States: the empty window; the upscaled image in the split view at 100 %; the same result against the
// built-in Pola ×4 model's (two results in the split); a run in progress (a copy of the image, queued as a
// folder); the memory panel. Without a model file the built-in default model is used.
#include <QAction>
#include <QApplication>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>
#include <QSettings>
#include <QStatusBar>
#include <QTemporaryDir>
#include <QThread>
#include <cstdio>

#include "compare_view.h"
#include "engine_setup.h"
#include "image_display.h"
#include "main_window.h"
#include "memory_panel.h"
#include "nalasr/image.h"
#include "path_util.h"

using namespace nalasr::gui;

namespace {

constexpr int kTimeoutMs = 600000;

// Processes events until `done` holds; false on timeout.
template <typename Predicate>
bool wait_until(Predicate done, int timeout_ms = kTimeoutMs) {
    QElapsedTimer clock;
    clock.start();
    while (!done()) {
        if (clock.elapsed() > timeout_ms) return false;
        QApplication::processEvents(QEventLoop::AllEvents, 50);
        QThread::msleep(10);
    }
    QApplication::processEvents();
    return true;
}

bool save(QWidget& window, const QString& folder, const char* name) {
    QApplication::processEvents();
    const QString path = QDir(folder).filePath(QLatin1String(name));
    // Opaque RGB and the strongest compression keep the files small.
    const bool ok = window.grab().toImage().convertToFormat(QImage::Format_RGB888).save(path, "PNG", 0);
    std::fprintf(ok ? stdout : stderr, "%s %s\n", ok ? "wrote" : "cannot write", qPrintable(path));
    return ok;
}

bool fail(const char* what) {
    std::fprintf(stderr, "screenshots: %s\n", what);
    return false;
}

// The image upscaled by the built-in Pola ×4 model, for display; null on failure.
QImage pola_result(const QString& image) {
    const EngineSpec pola{QString(), QStringLiteral("cpu"), QStringLiteral("nalasr_pola_x4")};
    std::unique_ptr<nalasr::Engine> engine;
    nalasr::Image input, output;
    if (!create_engine(pola, &engine) || !nalasr::load_image(to_fs_path(image), &input) ||
        !engine->upscale(input, &output, {}, nullptr))
        return {};
    return to_display_image(output);
}

bool make_screenshots(const QString& out_dir, const QString& image, const QString& model) {
    QTemporaryDir work;
    const QString batch_folder = work.filePath("batch");
    if (!QDir().mkpath(batch_folder) || !QFile::copy(image, batch_folder + "/" + QFileInfo(image).fileName()))
        return fail("cannot copy the image");
    QSettings settings(work.filePath("settings.ini"), QSettings::IniFormat);
    AppSettings initial;
    initial.engine = {model, QStringLiteral("cpu")};
    initial.output.folder = work.filePath("out");
    initial.save(settings);

    MainWindow window(settings);
    window.resize(1024, 640);
    window.show();
    if (!save(window, out_dir, "empty.png")) return false;

    // A finished image: both sides of the split view.
    window.add_paths({image});
    window.action("run")->trigger();
    if (!wait_until([&] { return !window.controller().is_running(); })) return fail("the image did not finish");
    if (window.queue().at(0).state != JobState::Done)
        return fail(qPrintable(QStringLiteral("the image was not upscaled: ") + window.statusBar()->currentMessage()));
    window.select_row(0);
    if (!wait_until([&] { return window.compare_view().has_after(); }, 30000)) return fail("no preview");
    window.compare_view().zoom_to_actual_size();
    window.compare_view().set_split(0.5);
    if (!save(window, out_dir, "compare.png")) return false;

    // Two results in the split: Pola ×4 on the left, the run's result on the right.
    const QString refusal = window.compare_view().set_other_result(pola_result(image), QStringLiteral("Pola ×4"));
    if (!refusal.isEmpty()) return fail(qPrintable(refusal));
    if (!save(window, out_dir, "compare_two.png")) return false;
    window.compare_view().clear_other_result();

    // A run in progress, grabbed at the first progress past 10 %, then cancelled.
    window.add_paths({batch_folder});
    window.select_row(1);
    window.action("run")->trigger();
    if (!wait_until([&] { return window.queue().at(1).progress >= 0.1 || !window.controller().is_running(); }))
        return fail("the second image did not progress");
    if (!save(window, out_dir, "running.png")) return false;
    window.action("cancel")->trigger();
    if (!wait_until([&] { return !window.controller().is_running(); })) return fail("cancel did not stop the run");

    window.show_memory_tab();
    QApplication::processEvents();
    bool computed = false;
    QObject::connect(&window.memory_panel(), &MemoryPanel::computed, [&](bool ok) { computed = ok; });
    window.memory_panel().compute();
    if (!wait_until([&] { return computed || !window.memory_panel().is_busy(); })) return fail("memory sweep hung");
    if (!computed) return fail("memory sweep failed");
    return save(window, out_dir, "memory.png");
}

}  // namespace

int main(int argc, char** argv) {
    QApplication app(argc, argv);
    QApplication::setOrganizationName(QStringLiteral("NalaSR"));
    QApplication::setApplicationName(QStringLiteral("nalasr-gui-screenshots"));
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s <out_dir> <image> [model.safetensors]\n", argv[0]);
        return 2;
    }
    const QString out_dir = QString::fromLocal8Bit(argv[1]);
    const QString model = argc > 3 ? QString::fromLocal8Bit(argv[3]) : QString();
    if (!QDir().mkpath(out_dir)) {
        fail("cannot create the output folder");
        return 1;
    }
    return make_screenshots(out_dir, QString::fromLocal8Bit(argv[2]), model) ? 0 : 1;
}
