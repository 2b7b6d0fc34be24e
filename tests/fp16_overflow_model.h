// A tiny model that overflows float16 on the GPU but stays finite in float32 (the output check of
// docs/robustness.md, "Half-precision failures").
//
// Why it overflows. conv_first's bias of channel 0 is set to 1e5, so the first feature map `feat` (= y of group 0)
// has a channel near 1e5 at every pixel. Scaling conv_first's weights would not be enough to reach a GEMM's float16
// output: every block's attention and FFN GEMMs read a LayerNorm of the residual, which is bounded whatever the
// residual's size (docs/model.md). But the CUDA backend stores the residual stream itself in float16
// (docs/cuda_notes.md, run 6): conv_first's GEMM writes y in float16 (with a float16 bias, itself already +Inf).
// Float16's largest value is 65504, so channel 0 of y is +Inf at every pixel; the first cpe sums Inf·w over
// depthwise weights of both signs (NaN), the LayerNorm spreads the NaN over every channel, and the output is NaN
// everywhere. On the CPU, float32 carries 1e5 (and the ~1e6 the convolutions make of it) without trouble: the
// output is finite.
#pragma once

#include <cstdint>

#include "nalasr/model.h"
#include "tiny_model.h"

namespace nalasr::test {

constexpr float kOverflowBias = 1e5f;  // > 65504, the largest float16

inline Model fp16_overflow_model(std::uint64_t seed = 7) {
    Model model = Model::random(tiny_config(2), seed);
    model.mutable_tensors()["conv_first.bias"].data[0] = kOverflowBias;
    return model;
}

}  // namespace nalasr::test
