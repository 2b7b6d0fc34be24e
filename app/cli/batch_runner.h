// Runs planned jobs through one engine. Reading/decoding and encoding/writing run on worker threads around the
// engine: while it works on image i, up to `workers` later images are read and decoded and up to `workers`
// earlier ones are encoded and written. Results come back in job order. At most 2 * workers + 1 images are in
// memory at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "job_plan.h"
#include "nalasr/engine.h"
#include "run_report.h"

namespace nalasr::cli {

struct BatchSettings {
    std::uint64_t max_pixels = 1ull << 30;
    int quality = 0;               // JPEG/WebP quality; 0 = the format's default
    bool strip_metadata = false;   // write no EXIF and no ICC profile
    int workers = 2;               // -j: images read ahead and written behind the engine
    std::size_t max_memory = 0;    // refuse images whose planned working memory is larger (0: no limit)
};

// Calls `done` once per job, in job order, from the calling thread. Stops starting new images once
// `should_stop` returns true (the image in flight is cancelled through the engine; finished ones are written).
void run_batch(const std::vector<Job>& jobs, const Engine& engine, const BatchSettings& settings,
               const std::function<bool()>& should_stop, const std::function<void(FileResult)>& done);

}  // namespace nalasr::cli
