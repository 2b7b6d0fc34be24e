// Runs planned jobs through one engine per device (GPU). Each device has its own thread, which takes the next
// file as soon as it is free (device_scheduler.h), so faster devices take more files. Reading/decoding and
// encoding/writing run on worker threads around the engines: up to max(workers, devices) images are read and
// decoded ahead and up to `workers` are encoded and written behind. Results come back in job order. With one
// engine, at most 2 * workers + 1 images are in memory at once; each further device adds about two.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "device_scheduler.h"
#include "job_plan.h"
#include "nalasr/engine.h"
#include "output_size.h"
#include "run_report.h"

namespace nalasr::cli {

struct BatchSettings {
    std::uint64_t max_pixels = 1ull << 30;
    int quality = 0;               // JPEG/WebP quality; 0 = the format's default
    bool strip_metadata = false;   // write no EXIF and no ICC profile
    int workers = 2;               // -j: images read ahead and written behind the engines
    std::size_t max_memory = 0;    // refuse images whose planned working memory is larger (0: no limit)
    const Engine* cpu_fallback = nullptr;  // --cpu-fallback: upscales what no GPU can hold (one at a time)
    OutputSize output_size;                // --outscale / --width / --height: resample the network's result
    bool keep_colours = false;             // --keep-colours: UpscaleParams::keep_input_colours
    bool tta = false;                      // -x/--tta: UpscaleParams::tta
};

// Calls `done` once per job started, in job order, from the calling thread. Stops starting new images once
// `should_stop` returns true (the images in flight are cancelled through their engines; finished ones are
// written). An image an engine refuses as too large for its device goes to another device that has not tried
// it; it fails only when none can hold it. The engines must run the same model. Returns what each engine did,
// in the engines' order.
std::vector<DeviceShare> run_batch(const std::vector<Job>& jobs, const std::vector<const Engine*>& engines,
                                   const BatchSettings& settings, const std::function<bool()>& should_stop,
                                   const std::function<void(FileResult)>& done);

// The same on a single engine.
DeviceShare run_batch(const std::vector<Job>& jobs, const Engine& engine, const BatchSettings& settings,
                      const std::function<bool()>& should_stop, const std::function<void(FileResult)>& done);

}  // namespace nalasr::cli
