// Runs a queue of images through one engine on a worker thread (QtConcurrent), so the window never freezes.
// Signals arrive in the thread that owns the runner (queued), except jobProgress may be connected directly.
//
// Per image: load → decide the output (output_naming.h) → upscale → save (atomic, so a cancelled or failed
// image leaves no file). A bad image fails alone; the rest of the queue goes on. cancel() is polled by the
// engine between units of work, so it stops within a fraction of a second.
#pragma once

#include <QFutureWatcher>
#include <QObject>
#include <atomic>
#include <memory>
#include <vector>

#include "engine_setup.h"
#include "job.h"
#include "output_naming.h"

namespace nalasr::gui {

class BatchRunner : public QObject {
    Q_OBJECT
public:
    explicit BatchRunner(QObject* parent = nullptr);
    ~BatchRunner() override;  // cancels and waits for the worker

    // Starts the jobs; false (and nothing happens) while a batch is running or when `jobs` is empty.
    bool start(std::vector<Job> jobs, const EngineSpec& engine, const OutputOptions& output);
    // Asks the worker to stop: the current image ends Cancelled, the ones after it stay queued.
    void cancel();
    bool is_running() const { return running_; }

signals:
    void engineReady(const QString& backend_name);
    void engineFailed(const QString& message);  // the batch ends; its jobs stay queued
    void jobStarted(quint64 id);
    void jobProgress(quint64 id, double fraction, const QString& stage);  // emitted from the worker thread
    void jobFinished(const nalasr::gui::JobResult& result);
    void batchFinished(bool cancelled);

private:
    void run_batch(std::vector<Job> jobs, EngineSpec spec, OutputOptions output);
    JobResult run_job(const Job& job, const OutputOptions& output);
    bool ensure_engine(const EngineSpec& spec);

    QFutureWatcher<void> watcher_;
    std::atomic<bool> cancel_{false};
    bool running_ = false;
    // Owned by the worker while a batch runs; kept between batches so weights stay loaded.
    std::unique_ptr<Engine> engine_;
    EngineSpec engine_spec_;
};

}  // namespace nalasr::gui
