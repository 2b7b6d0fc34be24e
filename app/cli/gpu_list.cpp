#include "gpu_list.h"

#include <algorithm>
#include <cctype>
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

std::string lowercase(std::string s) {
    for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

bool all_digits(const std::string& s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
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

// How an item is written in messages: 0, or 'H100'.
std::string shown(const GpuChoice& choice) {
    return choice.name.empty() ? std::to_string(choice.index) : "'" + choice.name + "'";
}

}  // namespace

std::string parse_gpu_list(const std::string& text, std::vector<GpuChoice>* choices) {
    choices->clear();
    const std::string usage =
        "-g/--gpu wants CUDA device indices or names separated by commas, such as 0, 0,1 or H100";
    if (trimmed(text).empty()) return usage + "; it was given nothing";
    if (text.back() == ',') return usage + ", not '" + text + "'";  // getline drops a trailing empty item
    std::stringstream items(text);
    std::string item;
    while (std::getline(items, item, ',')) {
        item = trimmed(item);
        if (item.empty()) return usage + ", not '" + text + "'";
        GpuChoice choice;
        const bool sign = item[0] == '-' || item[0] == '+';
        if (all_digits(item) || (sign && all_digits(item.substr(1)))) {
            if (sign) return "-g/--gpu: " + item + " is not a device index (they count from 0; see `nalasr info`)";
            const auto [end, error] = std::from_chars(item.data(), item.data() + item.size(), choice.index);
            if (error != std::errc())
                return "-g/--gpu: " + item + " is not a device index (they count from 0; see `nalasr info`)";
        } else {
            choice.name = item;
        }
        const bool twice = std::any_of(choices->begin(), choices->end(), [&](const GpuChoice& earlier) {
            return earlier.index == choice.index && lowercase(earlier.name) == lowercase(choice.name);
        });
        if (twice) return "-g/--gpu: GPU " + item + " is listed twice";
        choices->push_back(choice);
    }
    return "";
}

std::string resolve_gpus(const std::vector<GpuChoice>& choices, const std::vector<GpuInfo>& found, bool cuda_built,
                         std::vector<int>* indices) {
    indices->clear();
    if (!cuda_built) return "-g/--gpu needs the CUDA backend, which this build does not have (use --device cpu)";
    if (found.empty()) return "-g/--gpu: no usable NVIDIA GPU found (use --device cpu to run on the CPU)";
    std::vector<const GpuChoice*> chosen_by;  // per entry of *indices, the item that chose it
    for (const GpuChoice& choice : choices) {
        std::vector<int> matches;
        for (const GpuInfo& gpu : found) {
            const bool match = choice.name.empty()
                                   ? gpu.index == choice.index
                                   : lowercase(gpu.name).find(lowercase(choice.name)) != std::string::npos;
            if (match) matches.push_back(gpu.index);
        }
        if (matches.empty()) {
            const std::string what = choice.name.empty() ? "there is no GPU " + std::to_string(choice.index)
                                                         : "no GPU's name contains '" + choice.name + "'";
            return "-g/--gpu: " + what + "; GPUs found: " + describe(found);
        }
        std::sort(matches.begin(), matches.end());
        for (int index : matches) {
            const auto earlier = std::find(indices->begin(), indices->end(), index);
            if (earlier != indices->end()) {
                const GpuChoice* first = chosen_by[std::size_t(earlier - indices->begin())];
                return "-g/--gpu: GPU " + std::to_string(index) + " is chosen twice, by " + shown(*first) +
                       " and by " + shown(choice) + " (a name chooses every GPU whose name contains it)";
            }
            indices->push_back(index);
            chosen_by.push_back(&choice);
        }
    }
    return "";
}

}  // namespace nalasr::cli
