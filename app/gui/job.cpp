#include "job.h"

namespace nalasr::gui {

const char* job_state_name(JobState state) {
    switch (state) {
        case JobState::Queued: return "queued";
        case JobState::Running: return "running";
        case JobState::Done: return "done";
        case JobState::Failed: return "failed";
        case JobState::Skipped: return "skipped";
        case JobState::Cancelled: return "cancelled";
    }
    return "unknown";
}

}  // namespace nalasr::gui
