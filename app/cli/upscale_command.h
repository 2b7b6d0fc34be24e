// `nalasr upscale`: loads the model and one engine per device (-g) once, then runs every planned file, going on
// past bad files.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "output_name.h"
#include "output_size.h"

namespace nalasr::cli {

struct UpscaleOptions {
    std::vector<std::filesystem::path> inputs;
    std::filesystem::path output;
    int scale = 0;  // 0: the model's scale
    OutputSize output_size;  // --outscale / --width / --height
    std::filesystem::path model;
    std::string model_name;  // -n: a built-in model or a model folder's file stem
    std::string attention;   // --attention: "" = nala unless -m/-n say otherwise
    std::string device = "auto";
    std::string gpus;  // -g: CUDA device indices, "0,1"; "" = device 0 when CUDA is used. Implies --device cuda
    std::filesystem::path report;
    std::string format;  // "" = same as the input
    int quality = 0;     // 0 = the format's default (JPEG 95, WebP lossless)
    bool overwrite = false;
    bool skip_existing = false;
    bool recursive = false;
    std::string name_pattern = kDefaultNamePattern;
    int jobs = 0;            // -j: images read ahead / written behind the engine; 0 = default_jobs()
    std::string shard;       // "I/N", "" = all files
    std::string max_memory;  // "" = no limit; else a size ("4G")
    bool strip_metadata = false;
    bool keep_colours = false;  // --keep-colours: UpscaleParams::keep_input_colours
    bool tta = false;           // -x/--tta: UpscaleParams::tta
    bool cpu_fallback = false;  // --cpu-fallback: images too large for every GPU run on a CPU engine
    std::uint64_t max_pixels = 1ull << 30;
};

// -j when not given: one per CPU core, at least 2 and at most 16. With the GPU converting samples, a 4K PNG
// encode on the host takes several times the network's time, so the encoders must run in parallel to keep the
// GPU busy (H100, 20 × 960×540 → 4K PNG: 0.28 s per image with -j 8, 0.20 with -j 16; docs/benchmarks.md).
int default_jobs();

// Returns the process exit code (exit_codes.h).
int run_upscale(const UpscaleOptions& options);

}  // namespace nalasr::cli
