// Which files `nalasr upscale` reads and writes: folders expanded to the images in them, output names
// `{name}_x{scale}.{ext}`, and the refusals decided before any work (existing outputs, outputs onto inputs).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "nalasr/image.h"

namespace nalasr::cli {

struct PlanRequest {
    std::vector<std::filesystem::path> inputs;  // files and/or folders
    std::filesystem::path output;               // a folder, or a file for a single input file
    int scale = 4;
    ImageFormat format = ImageFormat::Unknown;  // -f; Unknown: the input's format (by extension)
    bool overwrite = false;
};

struct Job {
    std::filesystem::path input;
    std::filesystem::path output;  // empty when `error` is set
    ImageFormat format = ImageFormat::Png;
    std::string error;             // a reason this file cannot be processed (decided up front)
    std::string note;              // e.g. a renamed output after a name collision
};

struct Plan {
    std::vector<Job> jobs;
    std::filesystem::path output_folder;  // empty when the output is a single file
    std::string error;                    // a usage error: nothing can run
};

// Image files directly inside a folder (by extension; hidden files skipped), sorted by name.
std::vector<std::filesystem::path> images_in_folder(const std::filesystem::path& folder);

// Builds the plan. Does not create folders or touch files.
Plan plan_jobs(const PlanRequest& request);

}  // namespace nalasr::cli
