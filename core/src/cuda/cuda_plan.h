// The CUDA memory plan of one input size: every activation buffer of the forward pass with its lifetime over
// the pass's six stages, placed in one arena by the shared planner (memory_plan.h).
//
//   stage 0 unpack: integer samples → input image     stage 3 conv_after (+ the long skip)
//   stage 1 head:   conv_first                        stage 4 upsample conv, PixelShuffle, output image
//   stage 2 body:   the G·B blocks and group convs    stage 5 pack: output image → integer samples
//
// The sample buffers of stages 0 and 5 (8- and 16-bit images cross the bus as they are, sample_io.cuh) are sized
// for the widest integer image, 16-bit RGBA, so one plan serves every image of a size; they live where the body's
// buffers are dead, so they rarely add to the arena.
//
// The residual stream is float16 in three buffers: the group input y (which the group conv updates in place), the
// blocks' residual and its spare; the long skip feat is not kept at all: conv_first is run again on the (small)
// input image at stage 3. The work buffer holds a block's
// wide float16 tensors (qkvg, or fc1's output and the FFN hidden); 3×3 convolutions with C inputs run as
// implicit GEMMs (kernels/conv3x3.cuh: no buffer, the upsample conv shuffles straight into the output image) when
// C is a multiple of 16 (≤ 128), else, like conv_first (3 inputs), as im2col GEMMs over chunks of tokens. predict = arena + the cuBLAS workspace; the weights (resident since the backend was
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
    Input,          // (N, 3) float32 image; read again at stage 3 to recompute feat
    Group,          // (N, C) float16: y, the group's input and (after the group conv) output; conv_after's input
    Residual,       // (N, C) float16: the blocks' residual; feat + conv_after(y) at stage 3, the upsample's input
    Spare,          // (N, C) float16: the residual between a block's attention and FFN halves
    Normed,         // (N, C) float16: LayerNorm output, the input of qkvg and fc1
    Work,           // (N, work_ld) float16
    Columns,        // (chunk, k_pad) float16 im2col rows (k_pad of conv_first only when C takes the implicit path)
    Attention,      // attention scratch (linear: partials + state; softmax: scores + v and o of one head)
    Rope,           // RoPE (cos, sin) tables (nala), written once per arena
    UpsampleOut,    // (chunk, cout_pad) float32 output of the upsample conv (im2col path only; else 0 bytes)
    Output,         // (sH, sW, 3) float32
    SamplesIn,      // (N, ≤ 4) u8/u16 input image as the host holds it (integer-sample path only)
    SamplesOut,     // (sH, sW, ≤ 4) u8/u16 output image (integer-sample path only)
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

// Bytes per pixel the sample buffers are sized for: 4 channels of 16 bits.
constexpr std::size_t kMaxSampleBytesPerPixel = 4 * 2;

ForwardPlan plan_forward(const ModelConfig& config, int width, int height);

}  // namespace nalasr::cuda
