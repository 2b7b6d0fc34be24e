// Which files a batch reads: the inputs named on the command line with folders expanded (optionally
// recursively), in a deterministic order, and the share of them one shard of a cluster job array takes.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace nalasr::cli {

struct InputFile {
    std::filesystem::path path;
    std::filesystem::path subfolder;  // below the folder named on the command line (--recursive); else empty
};

struct InputListing {
    std::vector<InputFile> files;
    bool any_folder = false;
    std::vector<std::string> warnings;  // folders that could not be read
};

// Files keep the command line's order; each folder's images (by extension, hidden files and folders skipped)
// follow sorted by path, so every machine lists the same folder the same way. `exclude` (the output folder) is
// never entered, so that re-running into a folder inside the input does not pick up earlier outputs.
InputListing list_inputs(const std::vector<std::filesystem::path>& inputs, bool recursive,
                         const std::filesystem::path& exclude);

// --shard I/N: part I (1-based) of N.
struct Shard {
    int index = 1;
    int count = 1;
};
// Parses "I/N"; an empty string when it is valid, else why not.
std::string parse_shard(const std::string& text, Shard* out);

// The files of one shard: every N-th file of the listing, starting at the I-th. The listing is deterministic, so
// N machines given the same inputs (and seeing the same files) split them without overlap or gaps.
std::vector<InputFile> select_shard(const std::vector<InputFile>& files, const Shard& shard);

}  // namespace nalasr::cli
