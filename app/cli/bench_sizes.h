// Input sizes for `nalasr bench`: the default ladders and the --sizes list ("64,265,960x540").
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "nalasr/status.h"

namespace nalasr::cli {

struct InputSize {
    int width = 0, height = 0;
    std::size_t tokens() const { return std::size_t(width) * std::size_t(height); }
    std::string text() const;  // "960x540"
};

// 265² = 70,225 tokens: the "70K+ tokens" at which NaLaFormer reports −92.3 % peak memory against softmax.
constexpr InputSize kClaimSize{265, 265};

// 64² … 265² … 960×540 … 2048² … 8192²; the sweep reports the sizes that do not fit as predicted needs.
std::vector<InputSize> default_bench_sizes();
// A few sizes around the claim for a run of about a minute on a GPU: 64², 265², 960×540, 2048².
std::vector<InputSize> quick_bench_sizes();

// Comma-separated sizes, each "S" (a square) or "WxH"; every side in 1 … 16384.
Status parse_bench_sizes(const std::string& text, std::vector<InputSize>* out);

}  // namespace nalasr::cli
