#include "gpu_list.h"

#include <algorithm>
#include <charconv>
#include <sstream>

#include "text_format.h"

namespace nalasr::cli {
namespace {

std::string trimmed(const std::string& s) {
    const auto first = s.find_first_not_of(" \t");
    if (first == std::string::npos) return "";
    return s.substr(first, s.find_last_not_of(" \t") - first + 1);
}

// "0 (NVIDIA H100 80GB HBM3, 79.1 GiB), 1 (...)".
std::string describe(const std::vector<GpuInfo>& gpus) {
    std::string text;
    for (const GpuInfo& gpu : gpus) {
        if (!text.empty()) text += ", ";
        text += std::to_string(gpu.index) + " (" + gpu.name + ", " + format_bytes(gpu.total_bytes) + ")";
    }
    return text;
}

}  // namespace

std::string parse_gpu_list(const std::string& text, std::vector<int>* indices) {
    indices->clear();
    const std::string usage = "-g/--gpu wants CUDA device indices separated by commas, such as 0 or 0,1";
    if (trimmed(text).empty()) return usage + "; it was given nothing";
    std::stringstream items(text);
    std::string item;
    while (std::getline(items, item, ',')) {
        item = trimmed(item);
        int index = 0;
        const auto [end, error] = std::from_chars(item.data(), item.data() + item.size(), index);
        if (item.empty() || error != std::errc() || end != item.data() + item.size())
            return usage + ", not '" + text + "'";
        if (index < 0) return "-g/--gpu: " + item + " is not a device index (they count from 0; see `nalasr info`)";
        if (std::find(indices->begin(), indices->end(), index) != indices->end())
            return "-g/--gpu: GPU " + item + " is listed twice";
        indices->push_back(index);
    }
    if (text.back() == ',') return usage + ", not '" + text + "'";  // getline drops a trailing empty item
    return "";
}

std::string check_gpus_exist(const std::vector<int>& indices, const std::vector<GpuInfo>& found, bool cuda_built) {
    if (!cuda_built) return "-g/--gpu needs the CUDA backend, which this build does not have (use --device cpu)";
    if (found.empty()) return "-g/--gpu: no usable NVIDIA GPU found (use --device cpu to run on the CPU)";
    for (int index : indices) {
        const bool exists =
            std::any_of(found.begin(), found.end(), [&](const GpuInfo& gpu) { return gpu.index == index; });
        if (!exists) return "-g/--gpu: there is no GPU " + std::to_string(index) + "; GPUs found: " + describe(found);
    }
    return "";
}

}  // namespace nalasr::cli
