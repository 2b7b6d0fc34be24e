// Runs the queue: hands the pending items to a BatchRunner, writes states and results back into the
// QueueModel, and turns progress into the text the window shows. No widgets, so QtTest drives it headless.
#pragma once

#include <QElapsedTimer>
#include <QObject>

#include "batch_progress.h"
#include "batch_runner.h"
#include "queue_model.h"

namespace nalasr::gui {

class QueueController : public QObject {
    Q_OBJECT
public:
    explicit QueueController(QueueModel* queue, QObject* parent = nullptr);

    // Starts the queued, failed and cancelled items; false when busy or there is nothing to run.
    bool run(const EngineSpec& engine, const OutputOptions& output);
    void cancel();
    bool is_running() const { return runner_.is_running(); }
    BatchRunner& runner() { return runner_; }

signals:
    void runningChanged(bool running);
    void progressChanged(int percent, const QString& text);
    void message(const QString& text);  // one line for the status bar
    void jobFinished(quint64 id);
    void engineFailed(const QString& message);

private:
    double now() const { return clock_.elapsed() / 1000.0; }
    void on_job_progress(quint64 id, double fraction, const QString& stage);
    void on_job_finished(const JobResult& result);
    void on_batch_finished(bool cancelled);
    QString name_of(quint64 id) const;

    QueueModel* queue_;
    BatchRunner runner_;
    BatchProgress progress_;
    QElapsedTimer clock_;
    double cancel_requested_at_ = -1;
    int done_ = 0, failed_ = 0, skipped_ = 0;
    bool engine_failed_ = false;
};

}  // namespace nalasr::gui
