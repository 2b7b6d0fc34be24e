// Logic without an engine run: output naming, progress and time left, input collection, the queue model,
// settings, the display conversion of 16-bit and float images, and the output bit depth conversion.
#include <QDir>
#include <QFile>
#include <QMimeData>
#include <QTemporaryDir>
#include <QTest>
#include <QUrl>
#include <cmath>
#include <cstring>

#include "app_settings.h"
#include "batch_progress.h"
#include "format_text.h"
#include "image_display.h"
#include "input_collector.h"
#include "output_naming.h"
#include "path_util.h"
#include "queue_model.h"
#include "sample_conversion.h"

using namespace nalasr;
using namespace nalasr::gui;

class LogicTest : public QObject {
    Q_OBJECT
private slots:
    void output_name_keeps_input_format();
    void output_name_forced_format_and_folder();
    void output_name_collisions();
    void jpeg_with_alpha_goes_to_png();
    void progress_and_time_left();
    void human_readable_numbers();
    void folders_expand_to_images();
    void dropped_urls_and_pasted_bitmaps();
    void queue_model_states();
    void settings_round_trip();
    void display_conversion_matches_reference();
    void bicubic_preview_matches_reference();
    void u8_u16_round_trip_is_exact();
    void float_to_u16_rounds_and_clamps();
};

void LogicTest::output_name_keeps_input_format() {
    const OutputTarget jpeg = output_target("/in/photo.jpeg", ImageFormat::Jpeg, 4, false, {});
    QCOMPARE(from_fs_path(jpeg.path), QStringLiteral("/in/photo_x4.jpeg"));
    QCOMPARE(jpeg.format, ImageFormat::Jpeg);
    // The content decides: a PNG named .jpg is written as .png, not "photo_x2.jpg" holding PNG data.
    const OutputTarget mislabelled = output_target("/in/photo.jpg", ImageFormat::Png, 2, false, {});
    QCOMPARE(from_fs_path(mislabelled.path), QStringLiteral("/in/photo_x2.png"));
    // Non-ASCII names survive.
    const OutputTarget utf8 = output_target(to_fs_path(QStringLiteral("/in/café ñ.tif")), ImageFormat::Tiff, 3,
                                            false, {});
    QCOMPARE(from_fs_path(utf8.path), QStringLiteral("/in/café ñ_x3.tif"));
}

void LogicTest::output_name_forced_format_and_folder() {
    OutputOptions options;
    options.folder = QStringLiteral("/out");
    options.format = OutputFormat::Webp;
    const OutputTarget target = output_target("/in/a.png", ImageFormat::Png, 4, false, options);
    QCOMPARE(from_fs_path(target.path), QStringLiteral("/out/a_x4.webp"));
    QCOMPARE(target.format, ImageFormat::Webp);
    for (OutputFormat f : {OutputFormat::KeepInput, OutputFormat::Png, OutputFormat::Jpeg, OutputFormat::Webp,
                           OutputFormat::Tiff})
        QCOMPARE(output_format_from_id(QLatin1String(output_format_id(f))), f);
}

void LogicTest::output_name_collisions() {
    QTemporaryDir dir;
    const QString input = dir.filePath("img.png");
    QFile(dir.filePath("img_x2.png")).open(QIODevice::WriteOnly);
    QFile(dir.filePath("img_x2_1.png")).open(QIODevice::WriteOnly);
    OutputOptions options;
    options.overwrite = OverwritePolicy::Rename;
    QCOMPARE(from_fs_path(output_target(to_fs_path(input), ImageFormat::Png, 2, false, options).path),
             dir.filePath("img_x2_2.png"));
    options.overwrite = OverwritePolicy::Overwrite;
    const OutputTarget overwrite = output_target(to_fs_path(input), ImageFormat::Png, 2, false, options);
    QCOMPARE(from_fs_path(overwrite.path), dir.filePath("img_x2.png"));
    QVERIFY(!overwrite.skip);
    options.overwrite = OverwritePolicy::Skip;
    QVERIFY(output_target(to_fs_path(input), ImageFormat::Png, 2, false, options).skip);
}

void LogicTest::jpeg_with_alpha_goes_to_png() {
    const OutputTarget target = output_target("/in/logo.jpg", ImageFormat::Jpeg, 2, true, {});
    QCOMPARE(target.format, ImageFormat::Png);
    QCOMPARE(from_fs_path(target.path), QStringLiteral("/in/logo_x2.png"));
    QVERIFY(!target.note.isEmpty());
}

void LogicTest::progress_and_time_left() {
    BatchProgress progress;
    progress.start(3, 0.0);
    QVERIFY(!progress.seconds_left(0.0).has_value());
    progress.job_started(0.0);
    progress.job_progress(0.5);  // half of image 1 in 2 s: 2 s left of it, then 2 × 4 s
    QCOMPARE(progress.seconds_left(2.0).value(), 2.0 + 2 * 4.0);
    QCOMPARE(progress.fraction(), 0.5 / 3);
    progress.job_finished(4.0);
    progress.job_started(4.0);
    progress.job_progress(0.0);  // no rate yet for image 2: average of the finished ones
    QCOMPARE(progress.seconds_left(5.0).value(), 3.0 + 4.0);
    progress.job_finished(8.0);
    progress.job_started(8.0);
    progress.job_finished(12.0);
    QCOMPARE(progress.fraction(), 1.0);
    QCOMPARE(progress.finished_jobs(), 3);
}

void LogicTest::human_readable_numbers() {
    QCOMPARE(format_bytes(512), QStringLiteral("512 B"));
    QCOMPARE(format_bytes(3ull << 20), QStringLiteral("3.00 MiB"));
    QCOMPARE(format_bytes(1536ull << 20), QStringLiteral("1.50 GiB"));
    QCOMPARE(format_duration(0.85), QStringLiteral("850 ms"));
    QCOMPARE(format_duration(12.34), QStringLiteral("12.3 s"));
    QCOMPARE(format_duration(125), QStringLiteral("2 min 05 s"));
    QCOMPARE(format_count(65536), QStringLiteral("65,536"));
}

void LogicTest::folders_expand_to_images() {
    QTemporaryDir dir;
    QDir(dir.path()).mkpath("sub");
    for (const char* name : {"b.png", "a.JPG", "notes.txt", "sub/c.tiff"})
        QFile(dir.filePath(name)).open(QIODevice::WriteOnly);
    const QStringList files = expand_inputs({dir.path(), dir.filePath("notes.txt")});
    QCOMPARE(files, QStringList({dir.filePath("a.JPG"), dir.filePath("b.png"), dir.filePath("sub/c.tiff"),
                                 dir.filePath("notes.txt")}));
}

void LogicTest::dropped_urls_and_pasted_bitmaps() {
    QTemporaryDir dir;
    QFile(dir.filePath("x.png")).open(QIODevice::WriteOnly);
    QMimeData urls;
    urls.setUrls({QUrl::fromLocalFile(dir.filePath("x.png"))});
    QCOMPARE(inputs_from_mime(urls, dir.filePath("pasted")), QStringList({dir.filePath("x.png")}));

    QImage bitmap(7, 5, QImage::Format_RGB32);
    bitmap.fill(QColor(10, 200, 30));
    QMimeData pasted;
    pasted.setImageData(bitmap);
    const QStringList files = inputs_from_mime(pasted, dir.filePath("pasted"));
    QCOMPARE(files.size(), 1);
    QCOMPARE(QImage(files.first()).size(), QSize(7, 5));
    QVERIFY(inputs_from_mime(QMimeData(), dir.filePath("pasted")).isEmpty());
}

void LogicTest::queue_model_states() {
    QueueModel model;
    const quint64 a = model.add("/tmp/a.png");
    const quint64 b = model.add("/tmp/b.png");
    QCOMPARE(model.add("/tmp/a.png"), quint64(0));  // already queued
    QCOMPARE(model.rowCount(), 2);
    JobResult done;
    done.id = a;
    done.state = JobState::Done;
    done.stats.tokens = 65536;
    model.set_result(done);
    model.set_load_error(b, "b.png: not an image");
    const std::vector<Job> pending = model.pending_jobs();  // failed items are retried, done ones are not
    QCOMPARE(pending.size(), std::size_t(1));
    QCOMPARE(pending[0].id, b);
    QVERIFY(model.data(model.index(0), Qt::DisplayRole).toString().contains("65,536 tokens"));
    QVERIFY(model.data(model.index(1), Qt::DisplayRole).toString().contains("not an image"));
    QVERIFY(!model.data(model.index(0), Qt::DisplayRole).toString().contains("Warning"));
    // The engine's warnings (a half-precision result redone in float32) show on the line and in the tooltip.
    done.stats.warnings = {"redone in float32 on the CPU (slower)"};
    model.set_result(done);
    QVERIFY(model.data(model.index(0), Qt::DisplayRole).toString().contains("Warning: redone in float32"));
    QVERIFY(model.data(model.index(0), Qt::ToolTipRole).toString().contains("Warning: redone in float32"));
    model.set_running(b);
    model.reset_running();
    QCOMPARE(model.item(b)->state, JobState::Queued);
    model.remove_rows(0, 1);
    QCOMPARE(model.rowCount(), 1);
    QVERIFY(model.add("/tmp/a.png") != 0);  // removed, so it may come back
}

void LogicTest::settings_round_trip() {
    QTemporaryDir dir;
    AppSettings saved;
    saved.engine = {QStringLiteral("/m/nalasr_pola_x2.safetensors"), QStringLiteral("cuda:1")};
    saved.output = {QStringLiteral("/out"), OutputFormat::Tiff, OverwritePolicy::Skip};
    saved.output.bit_depth = OutputBitDepth::U16;
    saved.output.keep_colours = true;
    saved.output.tta = true;
    saved.before = BeforeResampler::Nearest;
    {
        QSettings settings(dir.filePath("s.ini"), QSettings::IniFormat);
        saved.save(settings);
    }
    QSettings settings(dir.filePath("s.ini"), QSettings::IniFormat);
    const AppSettings loaded = AppSettings::load(settings);
    QVERIFY(loaded.engine == saved.engine);
    QCOMPARE(loaded.output.folder, saved.output.folder);
    QCOMPARE(loaded.output.format, OutputFormat::Tiff);
    QCOMPARE(loaded.output.overwrite, OverwritePolicy::Skip);
    QCOMPARE(loaded.output.bit_depth, OutputBitDepth::U16);
    QVERIFY(loaded.output.keep_colours);
    QVERIFY(loaded.output.tta);
    QCOMPARE(loaded.before, BeforeResampler::Nearest);
    QSettings fresh(dir.filePath("fresh.ini"), QSettings::IniFormat);  // nothing saved yet: off
    QVERIFY(!AppSettings::load(fresh).output.keep_colours);
    QVERIFY(!AppSettings::load(fresh).output.tta);
}

void LogicTest::display_conversion_matches_reference() {
    // 16-bit and float samples against a float64 reference of round(v · 255), random values.
    const int w = 13, h = 7;
    Image u16, f32;
    u16.allocate(w, h, 3, SampleType::U16);
    f32.allocate(w, h, 4, SampleType::F32);
    std::uint32_t state = 99;
    auto next = [&] { return (state = state * 1664525u + 1013904223u) >> 8; };
    std::vector<double> u16_ref, f32_ref;
    for (std::size_t i = 0; i < u16.pixels.size() / 2; ++i) {
        const std::uint16_t v = std::uint16_t(1 + next() % 65535);
        std::memcpy(&u16.pixels[i * 2], &v, 2);
        u16_ref.push_back(v / 65535.0 * 255.0);
    }
    for (std::size_t i = 0; i < f32.pixels.size() / 4; ++i) {
        const float v = float(next() % 1000001) / 1e6f * 1.2f - 0.1f;  // a little outside [0, 1] too
        std::memcpy(&f32.pixels[i * 4], &v, 4);
        f32_ref.push_back(std::clamp(double(v), 0.0, 1.0) * 255.0);
    }
    const QImage a = to_display_image(u16), b = to_display_image(f32);
    double worst_u16 = 0, worst_f32 = 0;
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
            for (int c = 0; c < 4; ++c) {
                const std::size_t px = std::size_t(y) * w + x;
                const double ref_a = c < 3 ? u16_ref[px * 3 + c] : 255.0;
                worst_u16 = std::max(worst_u16, std::abs(a.constScanLine(y)[x * 4 + c] - ref_a));
                worst_f32 = std::max(worst_f32, std::abs(b.constScanLine(y)[x * 4 + c] - f32_ref[px * 4 + c]));
            }
    qInfo("display conversion: max |error| u16 %.4f, f32 %.4f (of 255; rounding bound 0.5)", worst_u16, worst_f32);
    QVERIFY(worst_u16 <= 0.5 + 1e-9);
    QVERIFY(worst_f32 <= 0.5 + 1e-4);
    QCOMPARE(describe_image(u16), QStringLiteral("13×7 · RGB 16-bit"));
}

// Keys' cubic with a = -0.75 (OpenCV's INTER_CUBIC), pixel centres aligned, edges replicated.
static double cubic_weight(double t) {
    const double a = -0.75;
    t = std::abs(t);
    if (t <= 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
    if (t < 2) return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a;
    return 0;
}

void LogicTest::bicubic_preview_matches_reference() {
    const int w = 11, h = 7, s = 3;
    QImage input(w, h, QImage::Format_RGBA8888);
    std::uint32_t state = 5;
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w * 4; ++x) {
            state = state * 1664525u + 1013904223u;
            input.scanLine(y)[x] = (x % 4 == 3) ? 255 : std::uint8_t(1 + (state >> 24) % 254);
        }
    const QImage out = bicubic_upscale(input, s, 1 << 20);
    QCOMPARE(out.size(), QSize(w * s, h * s));
    double worst = 0, err2 = 0, ref2 = 0;
    for (int oy = 0; oy < h * s; ++oy)
        for (int ox = 0; ox < w * s; ++ox)
            for (int c = 0; c < 3; ++c) {
                const double sx = (ox + 0.5) / s - 0.5, sy = (oy + 0.5) / s - 0.5;
                const int ix = int(std::floor(sx)), iy = int(std::floor(sy));
                double ref = 0;
                for (int j = -1; j <= 2; ++j)
                    for (int i = -1; i <= 2; ++i) {
                        const int px = std::clamp(ix + i, 0, w - 1), py = std::clamp(iy + j, 0, h - 1);
                        ref += cubic_weight(sx - (ix + i)) * cubic_weight(sy - (iy + j)) *
                               input.constScanLine(py)[px * 4 + c];
                    }
                ref = std::clamp(ref, 0.0, 255.0);
                const double diff = out.constScanLine(oy)[ox * 4 + c] - ref;
                worst = std::max(worst, std::abs(diff));
                err2 += diff * diff;
                ref2 += ref * ref;
            }
    qInfo("bicubic preview vs float64 reference: max |error| %.3f of 255, relative L2 error %.2e", worst,
          std::sqrt(err2 / ref2));
    QVERIFY(worst <= 1.0);  // 8-bit output, fixed-point weights
    QVERIFY(bicubic_upscale(input, s, 10).isNull());  // over the pixel budget
}

void LogicTest::u8_u16_round_trip_is_exact() {
    Image u8;
    u8.allocate(256, 1, 1, SampleType::U8);
    for (int v = 0; v < 256; ++v) u8.pixels[v] = std::uint8_t(v);
    u8.exif = {1, 2, 3};
    const Image u16 = convert_samples(u8, SampleType::U16);
    QCOMPARE(u16.type, SampleType::U16);
    QVERIFY(u16.exif == u8.exif);
    for (int v = 0; v < 256; ++v) {
        std::uint16_t w;
        std::memcpy(&w, u16.pixels.data() + 2 * v, 2);
        QCOMPARE(int(w), v * 257);
    }
    QVERIFY(convert_samples(u16, SampleType::U8).pixels == u8.pixels);

    // Every 16-bit value narrows to the nearest 8-bit one (float64 reference).
    Image all16;
    all16.allocate(65536, 1, 1, SampleType::U16);
    for (int v = 0; v < 65536; ++v) std::memcpy(all16.pixels.data() + 2 * v, &v, 2);
    const Image narrowed = convert_samples(all16, SampleType::U8);
    double worst = 0;
    for (int v = 0; v < 65536; ++v) worst = std::max(worst, std::abs(narrowed.pixels[v] - v / 257.0));
    qInfo("u16 -> u8: max |error| %.4f of an 8-bit step", worst);
    QVERIFY(worst <= 0.5);
}

void LogicTest::float_to_u16_rounds_and_clamps() {
    // Random floats in [-0.25, 1.25] (never zero): in range they round to nearest, outside they clamp.
    const int n = 4096;
    Image f32;
    f32.allocate(n, 1, 1, SampleType::F32);
    std::vector<double> values(n);
    std::uint32_t state = 12345;
    for (int i = 0; i < n; ++i) {
        state = state * 1664525u + 1013904223u;
        values[i] = -0.25 + 1.5 * ((state >> 8) + 0.5) / double(1u << 24);
        const float v = float(values[i]);
        std::memcpy(f32.pixels.data() + 4 * i, &v, 4);
    }
    const Image u16 = convert_samples(f32, SampleType::U16);
    const Image u8 = convert_samples(f32, SampleType::U8);
    double worst16 = 0, worst8 = 0;
    for (int i = 0; i < n; ++i) {
        const double unit = std::clamp(double(float(values[i])), 0.0, 1.0);
        std::uint16_t w;
        std::memcpy(&w, u16.pixels.data() + 2 * i, 2);
        worst16 = std::max(worst16, std::abs(w - unit * 65535.0));
        worst8 = std::max(worst8, std::abs(u8.pixels[i] - unit * 255.0));
        if (values[i] < 0) QCOMPARE(int(w), 0);
        if (values[i] > 1) QCOMPARE(int(w), 65535);
    }
    qInfo("f32 -> u16: max |error| %.4f steps; f32 -> u8: %.4f steps (0.5 = exact rounding)", worst16, worst8);
    QVERIFY(worst16 <= 0.5 + 1e-9);
    QVERIFY(worst8 <= 0.5 + 1e-9);

    // u8 -> f32 is v / 255, and the way back is exact.
    const Image back = convert_samples(convert_samples(u8, SampleType::F32), SampleType::U8);
    QVERIFY(back.pixels == u8.pixels);
    QCOMPARE(with_bit_depth(u8, OutputBitDepth::KeepInput).type, SampleType::U8);
    for (OutputBitDepth d : {OutputBitDepth::KeepInput, OutputBitDepth::U8, OutputBitDepth::U16, OutputBitDepth::F32})
        QCOMPARE(output_bit_depth_from_id(QLatin1String(output_bit_depth_id(d))), d);
}

QTEST_MAIN(LogicTest)
#include "test_logic.moc"
