// `nalasr upscale -g LIST`: the CUDA devices to run on, one engine each ("0,1", like realesrgan-ncnn-vulkan's -g),
// each given by index or by (part of) its name as `nalasr info` prints it ("H100", "rtx 4090,0").
#pragma once

#include <string>
#include <vector>

#include "nalasr/engine.h"

namespace nalasr::cli {

// One item of the list: a device index (`index` >= 0, `name` empty) or a name to look for (`index` -1).
struct GpuChoice {
    int index = -1;
    std::string name;  // as given, trimmed
    bool operator==(const GpuChoice&) const = default;
};

// Parses comma-separated items ("0", "0,1", "2, 3", "H100", "rtx 4090,0"). An item of digits is an index; any
// other item is a name, except a signed number ("-1", "+1"), which is refused as an index. Returns an error text
// (empty when fine) for an empty list or item, a signed or too large index, or an item given twice (names
// compared case-insensitively). Needs no GPU: which GPUs a name means is decided by resolve_gpus.
std::string parse_gpu_list(const std::string& text, std::vector<GpuChoice>* choices);

// Turns the parsed items into device indices of `found` (list_gpus()), in the order given. A name selects every
// GPU whose name contains it, ignoring case (in index order); an index must be one of `found`. The error text
// says which item matches no GPU and lists the GPUs found, says that a GPU is chosen twice (say by "0" and by a
// name that also matches GPU 0), or says that there are no GPUs (`cuda_built`: whether this build has CUDA).
std::string resolve_gpus(const std::vector<GpuChoice>& choices, const std::vector<GpuInfo>& found, bool cuda_built,
                         std::vector<int>* indices);

}  // namespace nalasr::cli
