// The forward pass of docs/model.md on the GPU: which kernels and GEMMs run, in which order, on which buffers
// of the arena laid out by a ForwardPlan. Everything is enqueued on the context's stream.
#pragma once

#include <cuda_fp16.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "backend.h"
#include "cuda/cuda_context.h"
#include "cuda/cuda_gemm.h"
#include "cuda/cuda_plan.h"
#include "cuda/cuda_weights.h"

namespace nalasr::cuda {

// Writes what depends only on the input size (NaLa's RoPE table) into a newly allocated arena; it stays valid
// for every pass of that size (Buf::Rope lives through the whole pass).
Status prepare_arena(const ModelConfig& config, const ForwardPlan& plan, std::byte* arena);

// Runs the network on the image already in Buf::Input and leaves (sH, sW, 3) float32 in Buf::Output.
// Only enqueues work (it can be captured into a CUDA graph), except with progress or cancel callbacks: then the
// stream is synchronised after every block to report and poll them.
Status run_network(CudaContext& ctx, const ModelConfig& config, const NetworkWeights& weights,
                   const ForwardPlan& plan, std::byte* arena, const ForwardControl& control);

// The building blocks, shared with the op tests.

// out (N, cout_pad) float16 with row stride ldy (+)= conv3x3(src − offset) + bias, summed in float32; src (N, cin)
// float16, the residual stream (offset applies inside the image only: the padding is 0). Cin a multiple of 16
// (≤ 128, kernels::conv3x3_implicit_supported): one implicit-GEMM launch, `columns` unused (may be null).
// Otherwise im2col + GEMM, the im2col rows going through `columns` (chunk_tokens · k_pad float16) a chunk at a time.
Status conv3x3(CudaContext& ctx, const Conv3x3Weights& w, const __half* src, int H, int W, float offset, __half* out,
               std::int64_t ldy, bool accumulate, __half* columns, int chunk_tokens);

// conv_first: the same from the float32 (N, cin) image, always im2col + GEMM (float16 out, not accumulating).
Status conv3x3(CudaContext& ctx, const Conv3x3Weights& w, const float* image, int H, int W, float offset,
               __half* out, std::int64_t ldy, __half* columns, int chunk_tokens);

// The tokens [t0, t0 + count) only: row r of y is token t0 + r (the upsample conv's chunks); `columns` holds
// count · k_pad float16 when the im2col path is taken. y is of type `out`: float16 (the only type the implicit
// kernel writes), or float32 (im2col path only).
Status conv3x3_tokens(CudaContext& ctx, const Conv3x3Weights& w, const __half* src, int H, int W, float offset,
                      std::int64_t t0, int count, void* y, std::int64_t ldy, GemmOutput out, bool accumulate,
                      __half* columns);

// y (n, out) = x (n, in) · Wᵀ + b (+ y when accumulating); y is float16 or float32 as the weights' bias is.
Status linear(CudaContext& ctx, const LinearWeights& w, const __half* x, std::int64_t ldx, std::int64_t n, void* y,
              std::int64_t ldy, GemmOutput out, bool accumulate);

// softmax(q·kᵀ/√d)·v per head, over qkvg (N, ld) in place of q; scratch: (N² + 2·N·d) floats.
Status softmax_attention(CudaContext& ctx, __half* qkvg, std::int64_t ld, int H, int W, int C, int heads,
                         float* scratch);

// NaLa's RoPE table: H·d/4 row entries, then W·d/4 column entries, each (cos θ, sin θ), computed in float64.
std::vector<float> rope_table(int H, int W, int d);

}  // namespace nalasr::cuda
