// Preparing the folders a batch writes into: can we write there at all (checked once, before any work), and
// clearing the temporary files that an earlier run killed outright (SIGKILL) left next to our outputs.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "job_plan.h"

namespace nalasr::cli {

// Creates the folder if needed and checks that a file can be created in it. Empty when fine, else why not.
std::string prepare_output_folder(const std::filesystem::path& folder);

// Removes leftover temporary files of the planned outputs whose writing process is gone (one scan per output
// folder). Returns the number removed.
int remove_stale_temp_files(const std::vector<Job>& jobs);

}  // namespace nalasr::cli
