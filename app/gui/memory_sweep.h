// Peak working memory against image size for each attention kind, from the engine's own planner
// (Engine::predict_peak_bytes) and, for small sizes, from real runs. Feeds the memory panel; no widgets.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "nalasr/engine.h"
#include "nalasr/model.h"
#include "nalasr/status.h"

namespace nalasr::gui {

struct MemoryPoint {
    std::size_t tokens = 0;  // input width × height
    std::size_t bytes = 0;
};

struct MemoryCurve {
    AttentionKind kind = AttentionKind::Nala;
    std::vector<MemoryPoint> predicted;
    std::vector<MemoryPoint> measured;  // observed peaks of real upscales (small sizes only)
    int largest_side_that_fits = 0;     // largest square input whose prediction fits available_bytes
};

struct MemorySweep {
    std::vector<MemoryCurve> curves;  // NaLa, Pola, softmax
    std::size_t available_bytes = 0;
    std::string backend;
};

struct MemorySweepOptions {
    std::vector<int> sides;      // square inputs to predict
    int measure_up_to_side = 0;  // also run real upscales of squares up to this side (0: none)
    EngineParams engine;
    std::function<bool()> should_abort;  // optional; stops between sizes with Cancelled
};

// Square sides from 16 to 8192 px, about √2 apart (tokens from 256 to 67 M).
std::vector<int> default_sweep_sides();

// Builds one engine per attention kind from `base` (same size, random weights) and fills `out`.
Status sweep_memory(const ModelConfig& base, const MemorySweepOptions& options, MemorySweep* out);

}  // namespace nalasr::gui
