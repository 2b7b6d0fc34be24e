// Which files `nalasr upscale` reads and writes: the input listing (input_files.h), output names from the
// --name pattern (output_name.h), mirrored subfolders for --recursive, and the decisions made before any work
// (existing outputs: refuse, skip or replace; never write onto an input).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "input_files.h"
#include "nalasr/image.h"
#include "output_name.h"

namespace nalasr::cli {

struct PlanRequest {
    std::vector<std::filesystem::path> inputs;  // files and/or folders
    std::filesystem::path output;               // a folder, or a file for a single input file
    std::string scale = "4";  // {scale} in output names (output_size.h: scale_text)
    ImageFormat format = ImageFormat::Unknown;  // -f; Unknown: the input's format (by extension)
    bool overwrite = false;
    bool skip_existing = false;  // an existing output means "already done" (resume)
    bool recursive = false;      // descend into subfolders and mirror them in the output folder
    std::string name_pattern = kDefaultNamePattern;
    Shard shard;
};

struct Job {
    std::filesystem::path input;
    std::filesystem::path output;  // empty when `error` is set
    ImageFormat format = ImageFormat::Png;
    std::string error;             // a reason this file cannot be processed (decided up front)
    std::string note;              // e.g. a renamed output after a name collision
    bool skip = false;             // --skip-existing and the output is there already
};

struct Plan {
    std::vector<Job> jobs;
    std::filesystem::path output_folder;  // empty when the output is a single file
    std::string error;                    // a usage error: nothing can run
    std::vector<std::string> warnings;    // e.g. a folder that could not be read
};

// Builds the plan. Does not create folders or touch files.
Plan plan_jobs(const PlanRequest& request);

}  // namespace nalasr::cli
