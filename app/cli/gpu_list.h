// `nalasr upscale -g LIST`: the CUDA devices to run on, one engine each ("0,1", like realesrgan-ncnn-vulkan's -g).
#pragma once

#include <string>
#include <vector>

#include "nalasr/engine.h"

namespace nalasr::cli {

// Parses comma-separated device indices ("0", "0,1", "2, 3"). Returns an error text (empty when fine) for
// an empty list or item, something that is not a number, a negative index, or an index given twice.
std::string parse_gpu_list(const std::string& text, std::vector<int>* indices);

// Checks that every index names a GPU in `found` (list_gpus()). The error text says which index is missing and
// lists the GPUs found, or says that there are none (`cuda_built`: whether this build has the CUDA backend).
std::string check_gpus_exist(const std::vector<int>& indices, const std::vector<GpuInfo>& found, bool cuda_built);

}  // namespace nalasr::cli
