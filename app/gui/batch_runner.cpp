#include "batch_runner.h"

#include <QElapsedTimer>
#include <QtConcurrent/QtConcurrentRun>
#include <mutex>
#include <system_error>

#include "path_util.h"

namespace nalasr::gui {
namespace {

// The engine may report progress thousands of times per image; the GUI needs a few updates a second.
constexpr qint64 kProgressIntervalMs = 50;

QString text_of(const Status& st) { return QString::fromStdString(st.message()); }

}  // namespace

BatchRunner::BatchRunner(QObject* parent) : QObject(parent) {
    qRegisterMetaType<nalasr::gui::JobResult>();
    connect(&watcher_, &QFutureWatcher<void>::finished, this, [this] {
        running_ = false;
        emit batchFinished(cancel_.load());
    });
}

BatchRunner::~BatchRunner() {
    cancel_ = true;
    watcher_.waitForFinished();
}

bool BatchRunner::start(std::vector<Job> jobs, const EngineSpec& engine, const OutputOptions& output) {
    if (running_ || jobs.empty()) return false;
    running_ = true;
    cancel_ = false;
    watcher_.setFuture(QtConcurrent::run([this, jobs = std::move(jobs), engine, output]() mutable {
        run_batch(std::move(jobs), engine, output);
    }));
    return true;
}

void BatchRunner::cancel() { cancel_ = true; }

void BatchRunner::run_batch(std::vector<Job> jobs, EngineSpec spec, OutputOptions output) {
    if (!ensure_engine(spec)) return;
    for (const Job& job : jobs) {
        if (cancel_) return;
        emit jobStarted(job.id);
        emit jobFinished(run_job(job, output));
    }
}

bool BatchRunner::ensure_engine(const EngineSpec& spec) {
    if (!engine_ || !(engine_spec_ == spec)) {
        engine_.reset();
        if (Status st = create_engine(spec, &engine_); !st) {
            emit engineFailed(text_of(st));
            return false;
        }
        engine_spec_ = spec;
    }
    emit engineReady(QString::fromStdString(engine_->backend_name()));
    return true;
}

JobResult BatchRunner::run_job(const Job& job, const OutputOptions& output) {
    QElapsedTimer clock;
    clock.start();
    JobResult result;
    result.id = job.id;
    auto fail = [&](JobState state, QString message) {
        result.state = state;
        result.message = std::move(message);
        result.seconds = clock.elapsed() / 1000.0;
        return result;
    };

    emit jobProgress(job.id, 0.0, QStringLiteral("loading"));
    Image input;
    LoadInfo info;
    if (Status st = load_image(to_fs_path(job.input), &input, {}, &info); !st)
        return fail(JobState::Failed, text_of(st));

    const OutputTarget target = output_target(to_fs_path(job.input), info.format, engine_->config().scale,
                                              input.has_alpha(), output);
    result.output = from_fs_path(target.path);
    if (target.skip) return fail(JobState::Skipped, QStringLiteral("output exists: ") + result.output);
    std::error_code ec;
    std::filesystem::create_directories(target.path.parent_path(), ec);
    if (ec) {
        return fail(JobState::Failed, QStringLiteral("cannot create the output folder %1: %2")
                                          .arg(from_fs_path(target.path.parent_path()),
                                               QString::fromStdString(ec.message())));
    }

    std::mutex progress_mutex;
    QElapsedTimer since_progress;
    since_progress.start();
    std::string last_stage;
    UpscaleParams params;
    params.should_abort = [this] { return cancel_.load(); };
    params.keep_input_colours = output.keep_colours;
    params.tta = output.tta;
    params.progress = [&](double fraction, const char* stage) {
        std::lock_guard lock(progress_mutex);
        if (stage == last_stage && since_progress.elapsed() < kProgressIntervalMs) return;
        last_stage = stage;
        since_progress.restart();
        emit jobProgress(job.id, fraction, QString::fromUtf8(stage));
    };
    Image upscaled;
    if (Status st = engine_->upscale(input, &upscaled, params, &result.stats); !st)
        return fail(st.code() == StatusCode::Cancelled ? JobState::Cancelled : JobState::Failed, text_of(st));
    input = Image();  // free the input before encoding the (larger) output

    emit jobProgress(job.id, 1.0, QStringLiteral("saving"));
    upscaled = with_bit_depth(std::move(upscaled), output.bit_depth);
    SaveOptions save;
    save.format = target.format;
    if (Status st = save_image(target.path, upscaled, save); !st) return fail(JobState::Failed, text_of(st));
    result.state = JobState::Done;
    result.message = target.note;
    result.seconds = clock.elapsed() / 1000.0;
    return result;
}

}  // namespace nalasr::gui
