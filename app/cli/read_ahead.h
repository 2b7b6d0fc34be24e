// Reads and decodes a batch's files ahead of the devices that upscale them: when job i is taken, the jobs up to
// i + `ahead` are being read and decoded on worker threads, in job order. Thread-safe: several devices take
// jobs from one ReadAhead. Reads still in flight when it is destroyed are finished (and dropped) by their futures.
#pragma once

#include <cstddef>
#include <future>
#include <map>
#include <mutex>
#include <vector>

#include "batch_stages.h"

namespace nalasr::cli {

class ReadAhead {
public:
    // `scale`: the model's (load_stage refuses outputs the format cannot hold). `jobs` and `settings` must
    // outlive this object.
    ReadAhead(const std::vector<Job>& jobs, int scale, const BatchSettings& settings, std::size_t ahead);
    // Job `index`, read and decoded (waits for it). Each job is taken once, unless it is given back.
    Loaded take(std::size_t index);
    // Returns a taken job, untouched, so that another device can take it.
    void give_back(std::size_t index, Loaded loaded);

private:
    const std::vector<Job>& jobs_;
    const int scale_;
    const BatchSettings& settings_;
    const std::size_t ahead_;
    std::mutex mutex_;
    std::size_t next_read_ = 0;                       // jobs [0, next_read_) have been started
    std::map<std::size_t, std::future<Loaded>> reading_;  // started, not yet taken
    std::map<std::size_t, Loaded> given_back_;
};

}  // namespace nalasr::cli
