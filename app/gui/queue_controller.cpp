#include "queue_controller.h"

#include <QFileInfo>

#include "format_text.h"

namespace nalasr::gui {

QueueController::QueueController(QueueModel* queue, QObject* parent) : QObject(parent), queue_(queue) {
    clock_.start();
    connect(&runner_, &BatchRunner::engineReady, this,
            [this](const QString& backend) { emit message(tr("Upscaling on %1").arg(backend)); });
    connect(&runner_, &BatchRunner::engineFailed, this, [this](const QString& text) {
        engine_failed_ = true;
        emit message(tr("Cannot start: %1").arg(text));
        emit engineFailed(text);
    });
    connect(&runner_, &BatchRunner::jobStarted, this, [this](quint64 id) {
        queue_->set_running(id);
        progress_.job_started(now());
    });
    connect(&runner_, &BatchRunner::jobProgress, this, &QueueController::on_job_progress);
    connect(&runner_, &BatchRunner::jobFinished, this, &QueueController::on_job_finished);
    connect(&runner_, &BatchRunner::batchFinished, this, &QueueController::on_batch_finished);
}

bool QueueController::run(const EngineSpec& engine, const OutputOptions& output) {
    std::vector<Job> jobs = queue_->pending_jobs();
    if (runner_.is_running()) return false;
    if (jobs.empty()) {
        emit message(tr("Nothing to upscale: add images first (Ctrl+O)"));
        return false;
    }
    progress_.start(int(jobs.size()), now());
    done_ = failed_ = skipped_ = 0;
    engine_failed_ = false;
    cancel_requested_at_ = -1;
    if (!runner_.start(std::move(jobs), engine, output)) return false;
    emit runningChanged(true);
    emit progressChanged(0, tr("Loading the model…"));
    return true;
}

void QueueController::cancel() {
    if (!runner_.is_running()) return;
    cancel_requested_at_ = now();
    runner_.cancel();
    emit message(tr("Cancelling…"));
}

QString QueueController::name_of(quint64 id) const {
    const QueueItem* item = queue_->item(id);
    return item ? QFileInfo(item->input).fileName() : QString();
}

void QueueController::on_job_progress(quint64 id, double fraction, const QString& stage) {
    queue_->set_progress(id, fraction, stage);
    progress_.job_progress(fraction);
    QString text = tr("Image %1 of %2 · %3 %4 %")
                       .arg(progress_.finished_jobs() + 1)
                       .arg(progress_.total_jobs())
                       .arg(stage)
                       .arg(qRound(fraction * 100));
    if (const std::optional<double> left = progress_.seconds_left(now()))
        text += tr(" · about %1 left").arg(format_duration(*left));
    emit progressChanged(qRound(progress_.fraction() * 100), text);
}

void QueueController::on_job_finished(const JobResult& result) {
    queue_->set_result(result);
    progress_.job_finished(now());
    const QString name = name_of(result.id);
    switch (result.state) {
        case JobState::Done:
            ++done_;
            emit message(tr("%1: %2 · %3 tokens · peak %4 working (%5) · host RSS %6")
                             .arg(name, format_duration(result.seconds), format_count(result.stats.tokens),
                                  format_bytes(result.stats.observed_peak_bytes),
                                  QString::fromStdString(result.stats.backend),
                                  format_bytes(result.stats.peak_host_rss_bytes)) +
                         (result.stats.warnings.empty()
                              ? QString()
                              : tr(" · Warning: %1").arg(join_warnings(result.stats.warnings))));
            break;
        case JobState::Failed:
            ++failed_;
            emit message(tr("%1: %2").arg(name, result.message));
            break;
        case JobState::Skipped: ++skipped_; break;
        case JobState::Queued:
        case JobState::Running:
        case JobState::Cancelled: break;
    }
    emit progressChanged(qRound(progress_.fraction() * 100), tr("%1 of %2 images finished")
                                                                  .arg(progress_.finished_jobs())
                                                                  .arg(progress_.total_jobs()));
    emit jobFinished(result.id);
}

void QueueController::on_batch_finished(bool cancelled) {
    queue_->reset_running();
    emit runningChanged(false);
    if (engine_failed_) {  // the status bar already says why; keep that message
        emit progressChanged(0, tr("Not started"));
        return;
    }
    QString summary = tr("%1 done, %2 failed, %3 skipped").arg(done_).arg(failed_).arg(skipped_);
    if (cancelled && cancel_requested_at_ >= 0) {
        summary = tr("Cancelled: stopped %1 after the request (%2)")
                      .arg(format_duration(now() - cancel_requested_at_), summary);
        emit progressChanged(0, tr("Cancelled"));
    } else {
        emit progressChanged(100, tr("Finished: %1").arg(summary));
    }
    emit message(summary);
}

}  // namespace nalasr::gui
