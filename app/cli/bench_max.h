// `nalasr bench --max`: the largest square input each attention kind can upscale in one tile-free pass on a
// device, from the memory planner against the memory available now; with --verify, confirmed by a real run
// (on a GPU only: on the CPU that run would take hours).
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>

#include "nalasr/engine.h"

namespace nalasr::cli {

struct LargestSquare {
    std::string device, backend;
    AttentionKind attention = AttentionKind::Nala;
    int side = 0;                    // 0: not even 1×1 fits
    std::size_t planned_bytes = 0;   // the planner's peak at side × side
    std::size_t available_bytes = 0;
    bool verified = false;           // a real run at side × side was attempted...
    Status verify_status;            // ...with this result
    std::size_t observed_bytes = 0;  // and, when it succeeded, this observed peak
    double verify_seconds = 0;
};

// Finds the side on `engine`; runs it once when `verify` (callers pass false on the CPU).
LargestSquare find_largest_square(const Engine& engine, const std::string& device, bool verify,
                                  const AbortFn& should_abort);

nlohmann::ordered_json largest_square_json(const LargestSquare& result);

}  // namespace nalasr::cli
