// The CUDA memory plan of one input size: every activation buffer of the forward pass with its lifetime over
// the pass's four stages, placed in one arena by the shared planner (memory_plan.h).
//
//   stage 0 head:  input image, conv_first            stage 2 conv_after (+ the long skip)
//   stage 1 body:  the G·B blocks and group convs     stage 3 upsample conv, PixelShuffle, output image
//
// Residuals are float32 (two buffers, ping-pong); the group input y is kept in float16; the long skip feat is not
// kept at all: conv_first is run again on the (small) input image at stage 2. The work buffer holds a block's
// wide float16 tensors (qkvg, or fc1's output and the FFN hidden); 3×3 convolutions run as im2col GEMMs over
// chunks of tokens. predict = arena + the cuBLAS workspace; the weights (resident since the backend was
// created) are not part of it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "memory_plan.h"
#include "nalasr/model.h"

namespace nalasr::cuda {

enum class Buf {
    Input,          // (N, 3) float32 image; read again at stage 2 to recompute feat
    ResidualFinal,  // (N, C) float32; holds conv_after's output at the end
    ResidualOther,  // (N, C) float32
    Group16,        // (N, C) float16: y, the group's input, for the group residual
    Normed,         // (N, C) float16: LayerNorm output, the input of qkvg and fc1
    Work,           // (N, work_ld) float16
    Columns,        // (chunk, k_pad) float16 im2col rows
    Attention,      // attention scratch (linear: partials + state; softmax: scores + v and o of one head)
    Rope,           // RoPE (cos, sin) tables (nala), written once per arena
    UpsampleOut,    // (chunk, cout_pad) float32 output of the upsample conv
    Output,         // (sH, sW, 3) float32
    Count
};

struct ForwardPlan {
    int width = 0, height = 0;
    std::int64_t tokens = 0;
    int work_ld = 0;       // row stride of Work: max(4C, 2·ffn_ratio·C)
    int chunk_tokens = 0;  // tokens per im2col chunk
    std::array<std::size_t, std::size_t(Buf::Count)> bytes{};
    std::array<std::pair<int, int>, std::size_t(Buf::Count)> lifetime{};  // first and last stage, inclusive
    MemoryPlan memory;

    std::size_t offset(Buf b) const { return memory.offsets[std::size_t(b)]; }
    std::size_t arena_bytes() const { return memory.arena_bytes; }
};

// Tokens per im2col chunk: N/16 within [16384, 16384] (at most N) — a GEMM under 16384 tokens cost up to 3× more
// per token on the H100 (docs/cuda_notes.md, run 2), and the rows (18 MiB at C = 64) add little to the peak.
constexpr int kMinConvChunkTokens = 16384;
constexpr int kMaxConvChunkTokens = 16384;

ForwardPlan plan_forward(const ModelConfig& config, int width, int height);

}  // namespace nalasr::cuda
