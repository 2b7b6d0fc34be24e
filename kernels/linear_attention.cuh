// Fused NaLa and Pola attention cores (docs/model.md; docs/attention.md). Two passes over the tokens, neither of
// which materialises the feature maps of the whole image:
//   pass 1: per head and token block, each thread builds the key features φk (and their RoPE-rotated form for
//           NaLa) of its tokens' channel pairs in registers, the block's partial S = Σ φ̃kᵀv (2d × d) is summed on
//           the tensor cores (tf32 mma, features split into two tf32 terms: float32 precision) and Σ φk (2d) on
//           the CUDA cores, and both are written; a second kernel sums the partials in a fixed order in float64
//           (deterministic) and divides by N;
//   pass 2: per token and head, φq, the numerator φ̃q·S and the normaliser φq·m + 1e-6 give o, which is written
//           over q in the work buffer (each thread reads its token's q before writing its o).
// qkvg is the float16 output of attn.qkvg with row stride `ld` (q | k | v | g, C channels each); the attention
// arithmetic is float32. Head widths up to kMaxLinearHeadDim are supported (padded to 8, 16 or 32).
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace nalasr::kernels {

constexpr int kMaxLinearHeadDim = 32;

struct LinearAttentionShape {
    int H = 0, W = 0;    // token grid; N = H·W
    int C = 0;           // channels of each of q, k, v, g
    int heads = 0;       // d = C / heads
    std::int64_t ld = 0; // row stride of qkvg in elements
};

// float32 scratch the passes need for this shape (block partials and the reduced per-head state).
std::size_t linear_attention_scratch_floats(std::int64_t N, int C, int heads);

// NaLa. rope_rows (H · d/4) and rope_cols (W · d/4) hold (cos θ, sin θ) for θ = pos · ω_j, j = 0 … d/4 − 1,
// entry [pos · d/4 + j] (built on the host in float64; see build_rope_table in core/src/cuda).
cudaError_t nala_attention(__half* qkvg, const LinearAttentionShape& shape, const float2* rope_rows,
                           const float2* rope_cols, float* scratch, cudaStream_t stream);

// Pola, steps 1-6, with the per-channel constants precomputed on the host: kpos_w tap-major (9, C), kpos_b (C),
// inv_sigma (C) = 1 / softplus(attn.scale), power (C) = 1 + 4·sigmoid(attn.power) flattened head-major.
cudaError_t pola_attention(__half* qkvg, const LinearAttentionShape& shape, const float* kpos_w, const float* kpos_b,
                           const float* inv_sigma, const float* power, float* scratch, cudaStream_t stream);

}  // namespace nalasr::kernels
