#include "batch_progress.h"

#include <algorithm>

namespace nalasr::gui {

void BatchProgress::start(int total_jobs, double now) {
    *this = BatchProgress();
    total_ = total_jobs;
    job_start_ = now;
}

void BatchProgress::job_started(double now) {
    job_start_ = now;
    job_fraction_ = 0;
}

void BatchProgress::job_progress(double fraction) { job_fraction_ = std::clamp(fraction, 0.0, 1.0); }

void BatchProgress::job_finished(double now) {
    finished_ = std::min(finished_ + 1, total_);
    finished_seconds_ += now - job_start_;
    job_start_ = now;
    job_fraction_ = 0;
}

double BatchProgress::fraction() const {
    if (total_ <= 0) return 0;
    return std::min(1.0, (finished_ + job_fraction_) / total_);
}

std::optional<double> BatchProgress::seconds_left(double now) const {
    const double elapsed = now - job_start_;
    const int after_current = std::max(0, total_ - finished_ - 1);
    // Too early in the current image to extrapolate: only finished images can tell.
    const bool current_known = job_fraction_ >= 0.02 && elapsed > 0;
    const double current_total = current_known ? elapsed / job_fraction_ : 0;
    const double average = finished_ > 0 ? finished_seconds_ / finished_ : current_total;
    if (!current_known && finished_ == 0) return std::nullopt;
    const double current_left = current_known ? current_total - elapsed : std::max(0.0, average - elapsed);
    return std::max(0.0, current_left) + after_current * average;
}

}  // namespace nalasr::gui
