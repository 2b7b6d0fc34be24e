#include "read_ahead.h"

namespace nalasr::cli {

ReadAhead::ReadAhead(const std::vector<Job>& jobs, int scale, const BatchSettings& settings, std::size_t ahead)
    : jobs_(jobs), scale_(scale), settings_(settings), ahead_(ahead) {}

Loaded ReadAhead::take(std::size_t index) {
    std::future<Loaded> reading;
    {
        std::lock_guard lock(mutex_);
        if (auto it = given_back_.find(index); it != given_back_.end()) {
            Loaded loaded = std::move(it->second);
            given_back_.erase(it);
            return loaded;
        }
        while (next_read_ < jobs_.size() && next_read_ <= index + ahead_) {
            reading_.emplace(next_read_, std::async(std::launch::async, load_stage, std::cref(jobs_[next_read_]),
                                                    scale_, std::cref(settings_)));
            ++next_read_;
        }
        auto it = reading_.find(index);
        if (it == reading_.end()) {  // a scheduling bug, not a bad file: say so rather than crash
            Loaded lost;
            lost.result.input = jobs_.at(index).input.string();
            lost.result.status = {StatusCode::Internal, lost.result.input + ": taken twice by the batch scheduler"};
            return lost;
        }
        reading = std::move(it->second);
        reading_.erase(it);
    }
    return reading.get();  // outside the lock: other devices take their jobs meanwhile
}

void ReadAhead::give_back(std::size_t index, Loaded loaded) {
    std::lock_guard lock(mutex_);
    given_back_.emplace(index, std::move(loaded));
}

}  // namespace nalasr::cli
