// Runs planned jobs through one engine. Three stages overlap: while the engine works on image i, image i+1 is
// read and decoded and image i-1 is encoded and written, each on its own thread. Results come back in order.
// At most three images are in memory at once.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "job_plan.h"
#include "nalasr/engine.h"
#include "run_report.h"

namespace nalasr::cli {

struct BatchSettings {
    std::uint64_t max_pixels = 1ull << 30;
    int quality = 0;  // JPEG/WebP quality; 0 = the format's default
    bool strip_metadata = false;  // write no EXIF and no ICC profile
};

// Calls `done` once per job, in job order, from the calling thread. Stops starting new images once
// `should_stop` returns true (the image in flight is cancelled through the engine; finished ones are written).
void run_batch(const std::vector<Job>& jobs, const Engine& engine, const BatchSettings& settings,
               const std::function<bool()>& should_stop, const std::function<void(FileResult)>& done);

}  // namespace nalasr::cli
