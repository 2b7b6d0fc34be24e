// The batch runner with a real engine (a tiny random model on the CPU backend): upscale and save, cancel
// mid-run without leaving a file, a corrupt file failing alone, an unwritable folder, the overwrite policies.
#include <QDir>
#include <QElapsedTimer>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include "batch_runner.h"
#include "gui_test_support.h"
#include "nalasr/engine.h"
#include "path_util.h"
#include "sample_conversion.h"

using namespace nalasr;
using namespace nalasr::gui;

namespace {

constexpr int kTimeoutMs = 120000;

// Runs `jobs` to the end and returns their results in order.
std::vector<JobResult> run_all(BatchRunner& runner, std::vector<Job> jobs, const EngineSpec& spec,
                               const OutputOptions& output) {
    std::vector<JobResult> results;
    QObject context;
    QObject::connect(&runner, &BatchRunner::jobFinished, &context,
                     [&](const JobResult& r) { results.push_back(r); });
    QSignalSpy finished(&runner, &BatchRunner::batchFinished);
    if (!runner.start(std::move(jobs), spec, output)) return results;
    if (!finished.wait(kTimeoutMs)) qWarning("batch did not finish in time");
    return results;
}

}  // namespace

class BatchRunnerTest : public QObject {
    Q_OBJECT
private slots:
    void initTestCase();
    void upscales_and_saves();
    void sixteen_bit_output_from_eight_bit_input();
    void keep_colours_reaches_the_engine();
    void tta_reaches_the_engine();
    void cancel_leaves_no_file();
    void corrupt_file_fails_alone();
    void unwritable_folder_is_an_error();
    void overwrite_policies();
    void out_of_memory_is_reported_per_item();
    void bad_model_fails_to_start();

private:
    void option_reaches_the_engine(const QString& name, OutputOptions output, const UpscaleParams& params);

    QTemporaryDir dir_;
    EngineSpec spec_;
};

void BatchRunnerTest::initTestCase() {
    QVERIFY(dir_.isValid());
    spec_.model_path = dir_.filePath("tiny.safetensors");
    spec_.device = QStringLiteral("cpu");
    test::write_tiny_model(spec_.model_path);
}

void BatchRunnerTest::upscales_and_saves() {
    const QString input = dir_.filePath("photo.png");
    test::write_random_png(input, 24, 20, 1);
    OutputOptions output;
    output.folder = dir_.filePath("out_basic");
    BatchRunner runner;
    QElapsedTimer clock;
    clock.start();
    const std::vector<JobResult> results = run_all(runner, {{1, input}}, spec_, output);
    QCOMPARE(results.size(), std::size_t(1));
    const JobResult& r = results[0];
    QVERIFY2(r.state == JobState::Done, qPrintable(r.message));
    QCOMPARE(r.output, dir_.filePath("out_basic/photo_x2.png"));
    QCOMPARE(r.stats.tokens, std::size_t(24 * 20));
    qInfo("upscaled 24x20 -> 48x40 in %.1f ms (batch %lld ms), peak working %zu B, host RSS %zu B, backend %s",
          r.seconds * 1000, clock.elapsed(), r.stats.observed_peak_bytes, r.stats.peak_host_rss_bytes,
          r.stats.backend.c_str());

    // The file holds exactly what the engine computes for this input.
    Image saved, in, direct;
    QVERIFY(load_image(to_fs_path(r.output), &saved).is_ok());
    QCOMPARE(saved.width, 48);
    QCOMPARE(saved.height, 40);
    QCOMPARE(saved.channels, 3);
    std::unique_ptr<Engine> engine;
    QVERIFY(create_engine(spec_, &engine).is_ok());
    QVERIFY(load_image(to_fs_path(input), &in).is_ok());
    UpscaleStats stats;
    QVERIFY(engine->upscale(in, &direct, {}, &stats).is_ok());
    QVERIFY(saved.pixels == direct.pixels);
}

void BatchRunnerTest::sixteen_bit_output_from_eight_bit_input() {
    const QString input = dir_.filePath("eight.png");
    test::write_random_png(input, 12, 10, 3);
    OutputOptions output;
    output.folder = dir_.filePath("out_16bit");
    output.bit_depth = OutputBitDepth::U16;
    BatchRunner runner;
    const std::vector<JobResult> results = run_all(runner, {{1, input}}, spec_, output);
    QCOMPARE(results.size(), std::size_t(1));
    QVERIFY2(results[0].state == JobState::Done, qPrintable(results[0].message));
    Image saved, in, direct;
    QVERIFY(load_image(to_fs_path(results[0].output), &saved).is_ok());
    QCOMPARE(saved.type, SampleType::U16);
    QCOMPARE(saved.width, 24);
    // The engine's 8-bit result, widened exactly.
    std::unique_ptr<Engine> engine;
    QVERIFY(create_engine(spec_, &engine).is_ok());
    QVERIFY(load_image(to_fs_path(input), &in).is_ok());
    UpscaleStats stats;
    QVERIFY(engine->upscale(in, &direct, {}, &stats).is_ok());
    QVERIFY(saved.pixels == convert_samples(direct, SampleType::U16).pixels);
}

void BatchRunnerTest::keep_colours_reaches_the_engine() {
    OutputOptions output;
    output.keep_colours = true;
    UpscaleParams params;
    params.keep_input_colours = true;
    option_reaches_the_engine(QStringLiteral("colours"), output, params);
}

void BatchRunnerTest::tta_reaches_the_engine() {
    OutputOptions output;
    output.tta = true;
    UpscaleParams params;
    params.tta = true;
    option_reaches_the_engine(QStringLiteral("tta"), output, params);
}

// An image run with `output` is saved as the engine upscales it with `params`, and differs from the default result.
void BatchRunnerTest::option_reaches_the_engine(const QString& name, OutputOptions output, const UpscaleParams& params) {
    const QString input = dir_.filePath(name + QStringLiteral(".png"));
    test::write_random_png(input, 12, 10, 5);
    output.folder = dir_.filePath(QStringLiteral("out_") + name);
    BatchRunner runner;
    const std::vector<JobResult> results = run_all(runner, {{1, input}}, spec_, output);
    QCOMPARE(results.size(), std::size_t(1));
    QVERIFY2(results[0].state == JobState::Done, qPrintable(results[0].message));
    Image saved, in, with, without;
    QVERIFY(load_image(to_fs_path(results[0].output), &saved).is_ok());
    std::unique_ptr<Engine> engine;
    QVERIFY(create_engine(spec_, &engine).is_ok());
    QVERIFY(load_image(to_fs_path(input), &in).is_ok());
    QVERIFY(engine->upscale(in, &with, params, nullptr).is_ok());
    QVERIFY(engine->upscale(in, &without, {}, nullptr).is_ok());
    QVERIFY(saved.pixels == with.pixels);
    QVERIFY(saved.pixels != without.pixels);
}

void BatchRunnerTest::cancel_leaves_no_file() {
    const QString input = dir_.filePath("large.png");
    test::write_random_png(input, 320, 256, 2);
    OutputOptions output;
    output.folder = dir_.filePath("out_cancel");
    BatchRunner runner;
    QElapsedTimer since_cancel;
    // Cancel from the worker thread at the first progress report inside the network: deterministic, mid-run.
    double cancelled_at = -1;
    connect(&runner, &BatchRunner::jobProgress, &runner,
            [&](quint64, double fraction, const QString& stage) {
                if (stage == QLatin1String("loading") || fraction <= 0 || since_cancel.isValid()) return;
                cancelled_at = fraction;
                since_cancel.start();
                runner.cancel();
            },
            Qt::DirectConnection);
    const std::vector<JobResult> results = run_all(runner, {{1, input}, {2, input}}, spec_, output);
    QVERIFY2(since_cancel.isValid(), "the engine reported no progress inside the network");
    qInfo("cancelled at %.0f %% of the network: the batch ended %lld ms after the request",
          cancelled_at * 100, since_cancel.elapsed());
    QVERIFY(since_cancel.elapsed() < 1000);
    QCOMPARE(results.size(), std::size_t(1));  // the second image never started
    QVERIFY2(results[0].state == JobState::Cancelled, qPrintable(results[0].message));
    // Nothing at all in the output folder: no output, no temporary file.
    const QStringList left = QDir(output.folder).entryList(QDir::Files | QDir::Hidden | QDir::System);
    QVERIFY2(left.isEmpty(), qPrintable(left.join(", ")));
}

void BatchRunnerTest::corrupt_file_fails_alone() {
    const QString corrupt = dir_.filePath("broken.png");
    const QString good = dir_.filePath("good.png");
    test::write_corrupt_png(corrupt);
    test::write_random_png(good, 16, 12, 3);
    OutputOptions output;
    output.folder = dir_.filePath("out_corrupt");
    BatchRunner runner;
    const std::vector<JobResult> results = run_all(runner, {{1, corrupt}, {2, good}}, spec_, output);
    QCOMPARE(results.size(), std::size_t(2));
    QCOMPARE(results[0].state, JobState::Failed);
    QVERIFY(!results[0].message.isEmpty());
    qInfo("corrupt file message: %s", qPrintable(results[0].message));
    QVERIFY2(results[1].state == JobState::Done, qPrintable(results[1].message));
    QVERIFY(QFile::exists(results[1].output));
    QVERIFY(!QFile::exists(dir_.filePath("out_corrupt/broken_x2.png")));
}

void BatchRunnerTest::unwritable_folder_is_an_error() {
    const QString input = dir_.filePath("small.png");
    test::write_random_png(input, 8, 8, 4);
    QFile blocker(dir_.filePath("not_a_folder"));
    QVERIFY(blocker.open(QIODevice::WriteOnly));
    blocker.close();
    OutputOptions output;
    output.folder = dir_.filePath("not_a_folder/out");  // a folder cannot live inside a file
    BatchRunner runner;
    const std::vector<JobResult> results = run_all(runner, {{1, input}, {2, input}}, spec_, output);
    QCOMPARE(results.size(), std::size_t(2));
    for (const JobResult& r : results) {
        QCOMPARE(r.state, JobState::Failed);
        QVERIFY(r.message.contains("output folder"));
    }
    qInfo("unwritable folder message: %s", qPrintable(results[0].message));
}

void BatchRunnerTest::overwrite_policies() {
    const QString input = dir_.filePath("again.png");
    test::write_random_png(input, 8, 6, 5);
    OutputOptions output;
    output.folder = dir_.filePath("out_policies");
    BatchRunner runner;
    QCOMPARE(run_all(runner, {{1, input}}, spec_, output).at(0).state, JobState::Done);
    output.overwrite = OverwritePolicy::Rename;
    const JobResult renamed = run_all(runner, {{1, input}}, spec_, output).at(0);
    QCOMPARE(renamed.state, JobState::Done);
    QCOMPARE(renamed.output, dir_.filePath("out_policies/again_x2_1.png"));
    output.overwrite = OverwritePolicy::Skip;
    const JobResult skipped = run_all(runner, {{1, input}}, spec_, output).at(0);
    QCOMPARE(skipped.state, JobState::Skipped);
    QCOMPARE(QDir(output.folder).entryList(QDir::Files).size(), 2);
}

void BatchRunnerTest::out_of_memory_is_reported_per_item() {
    // Softmax attention over a 1024² image needs an N² matrix (~TiB): the planner refuses it before
    // allocating, the item says so, and the small image after it still runs.
    ModelConfig config = test::tiny_config();
    config.attention = AttentionKind::Softmax;
    EngineSpec spec = spec_;
    spec.model_path = dir_.filePath("tiny_softmax.safetensors");
    QVERIFY(Model::random(config, 3).save_file(to_fs_path(spec.model_path)).is_ok());
    const QString huge = dir_.filePath("huge.png"), small = dir_.filePath("fits.png");
    test::write_random_png(huge, 1024, 1024, 6);
    test::write_random_png(small, 12, 12, 7);
    OutputOptions output;
    output.folder = dir_.filePath("out_oom");
    BatchRunner runner;
    const std::vector<JobResult> results = run_all(runner, {{1, huge}, {2, small}}, spec, output);
    QCOMPARE(results.size(), std::size_t(2));
    QCOMPARE(results[0].state, JobState::Failed);
    qInfo("out of memory message: %s", qPrintable(results[0].message));
    QVERIFY(!results[0].message.isEmpty());
    QVERIFY2(results[1].state == JobState::Done, qPrintable(results[1].message));
}

void BatchRunnerTest::bad_model_fails_to_start() {
    BatchRunner runner;
    QSignalSpy failed(&runner, &BatchRunner::engineFailed);
    EngineSpec spec = spec_;
    spec.model_path = dir_.filePath("missing.safetensors");
    const std::vector<JobResult> results = run_all(runner, {{1, dir_.filePath("photo.png")}}, spec, {});
    QVERIFY(results.empty());
    QCOMPARE(failed.size(), 1);
    qInfo("missing model message: %s", qPrintable(failed.at(0).at(0).toString()));
}

QTEST_MAIN(BatchRunnerTest)
#include "test_batch_runner.moc"
