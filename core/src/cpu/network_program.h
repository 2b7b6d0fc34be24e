// The NalaSR forward pass (docs/model.md) for one input size, as a list of steps over numbered buffers.
//
// The same program is read twice: the memory planner takes each buffer's lifetime from the steps that use it
// (first use → last use), and the executor runs the steps with every buffer placed at its planned arena offset.
// So the plan cannot drift from what the forward really does.
#pragma once

#include <cstddef>
#include <functional>
#include <vector>

#include "cpu/network_weights.h"
#include "memory_plan.h"

namespace nalasr::cpu {

struct ProgramStep {
    const char* name = "";
    std::vector<int> buffers;      // buffers this step reads or writes
    std::size_t scratch_bytes = 0; // what the step's op allocates itself (cpu/scratch.h)
    bool ends_block = false;       // progress is reported after this step
    std::function<void(float* const* buffer)> run;
};

struct Program {
    std::vector<std::size_t> buffer_bytes;
    std::vector<ProgramStep> steps;
    int progress_units = 0;  // number of steps with ends_block

    std::vector<BufferLifetime> lifetimes() const;
    std::size_t max_scratch_bytes() const;
};

// Builds the program for an H×W input. `rgb` (H, W, 3) and `out` (sH, sW, 3) are captured by the steps and
// may be null when the program is only planned.
Program build_network_program(const NetworkWeights& weights, int H, int W, const float* rgb, float* out);

}  // namespace nalasr::cpu
