// Overall progress and time left of a batch, from per-image progress fractions. Times are passed in
// (seconds on any monotonic clock), so the estimate is testable without waiting.
#pragma once

#include <optional>

namespace nalasr::gui {

class BatchProgress {
public:
    void start(int total_jobs, double now);
    void job_started(double now);
    void job_progress(double fraction);  // of the current image, 0..1
    void job_finished(double now);

    int total_jobs() const { return total_; }
    int finished_jobs() const { return finished_; }
    double fraction() const;  // of the whole batch, 0..1
    // Current image's remaining time at its observed rate, plus the average image time for the ones after it.
    // Empty until there is enough to go on.
    std::optional<double> seconds_left(double now) const;

private:
    int total_ = 0;
    int finished_ = 0;
    double finished_seconds_ = 0;  // sum of finished images' times
    double job_start_ = 0;
    double job_fraction_ = 0;
};

}  // namespace nalasr::gui
