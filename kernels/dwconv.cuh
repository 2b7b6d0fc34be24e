// Depthwise 3×3 convolutions of the block, each fused with what surrounds it (sliding down strips of columns, one
// input row per step; cpe for C > 128 on shared-memory tiles, tile.cuh):
//   cpe + residual + LayerNorm:  x_out = x + dwconv(x);  normed = LayerNorm(x_out)   (the block's cpe1/norm1 and
//                                cpe2/norm2 pairs; x_out is the new float16 residual, normed the next GEMM's input;
//                                both from the float32 sum: the LayerNorm does not see x_out's rounding)
//   FFN hidden:                  out = t + dwconv(t) with t = GELU(fc1 output)        (GELU applied on the fly)
// Depthwise weights are tap-major, (9, C): w[tap·C + c] with tap = ky·3 + kx (repacked at upload, cuda_weights.h).
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace nalasr::kernels {

// Largest C the warp-per-token LayerNorm kernels handle (8 channel pairs per lane).
constexpr int kMaxLayerNormChannels = 512;

// x, x_out: (N, C) float16, must not alias. normed: (N, C) float16 with row stride normed_ld (even). C a multiple of
// 4, ≤ 512 (above 200 channels the tile needs more than 48 KB of shared memory, which the launcher requests).
cudaError_t cpe_residual_layernorm(const __half* x, int H, int W, int C, const float* w, const float* bias,
                                   const float* gamma, const float* beta, float eps, __half* x_out, __half* normed,
                                   std::int64_t normed_ld, cudaStream_t stream);

// t: fc1's output before GELU, (N, Ch) float16 with row stride t_ld; out: (N, Ch) float16 with row stride
// out_ld, must not overlap t. Ch, t_ld, out_ld and the addresses of t and out multiples of 4 elements; w and bias
// 16-byte aligned (as uploaded).
cudaError_t ffn_gelu_dwconv(const __half* t, std::int64_t t_ld, int H, int W, int Ch, const float* w,
                            const float* bias, __half* out, std::int64_t out_ld, cudaStream_t stream);

}  // namespace nalasr::kernels
