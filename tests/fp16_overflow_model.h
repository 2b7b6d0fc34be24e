// A tiny model that overflows float16 on the GPU but stays finite in float32 (the output check of
// docs/robustness.md, "Half-precision failures").
//
// Why it overflows. conv_first's bias of channel 0 is set to 1e5, so the first feature map `feat` (= y of group 0)
// has a channel near 1e5 at every pixel. Scaling conv_first's weights would not be enough to reach a GEMM's float16
// output: every block's attention and FFN GEMMs read a LayerNorm of the float32 residual, which is bounded whatever
// the residual's size (docs/model.md). But the CUDA backend keeps two copies of the residual in float16
// (docs/cuda_notes.md, "Design"): the group input y (Buf::Group16, for the group residual) and the im2col rows of
// every 3×3 convolution (the group conv, conv_after and upsample.conv read the residual through them). Float16's
// largest value is 65504, so both hold +Inf in channel 0; the group conv adds +Inf to every pixel, the next
// convolutions sum Inf·w over weights of both signs (NaN), and the output is NaN/Inf everywhere. On the CPU,
// float32 carries 1e5 (and the ~1e6 the convolutions make of it) without trouble: the output is finite.
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
