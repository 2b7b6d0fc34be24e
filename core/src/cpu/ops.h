// CPU reference ops: float32, token-major activations.
//
// These are the numerical reference of the engine: every other backend's kernels are tested against them
// (tests/test_backend_ops.cpp), and they are tested against float64 loops (tests/test_cpu_ops.cpp).
// Layout: an H×W feature map with C channels is N = H*W tokens in row-major pixel order, C floats per token.
// Weights are in PyTorch's layout (docs/model.md); no op keeps state between calls.
#pragma once

#include <cstddef>

namespace nalasr::cpu {

// Dense 3×3 convolution, zero padding. w: (Cout, Cin, 3, 3), bias: (Cout) or null.
// out: (N, Cout); must not alias x.
void conv3x3(const float* x, int H, int W, int Cin, const float* w, const float* bias, int Cout, float* out);

// Depthwise k×k convolution (k = 3 or 5), zero padding. w: (C, 1, k, k), bias (C) or null.
// out: (N, C); must not alias x. With `add_input`, out = x + conv(x) (the block's position terms).
void dwconv(const float* x, int H, int W, int C, int k, const float* w, const float* bias, float* out,
            bool add_input = false);

// Depthwise k×k convolution whose weights are shared by groups of `group_width` channels:
// channel c uses filter c % group_width (Pola's lepe: one d-channel filter bank for every head).
// w: (group_width, 1, k, k), bias (group_width). x and out: (N, C), C a multiple of group_width.
void dwconv_shared(const float* x, int H, int W, int C, int group_width, int k, const float* w,
                   const float* bias, float* out);

// y = x·Wᵀ + b. x: (N, Cin) with row stride `x_stride` (≥ Cin; lets a caller read a column slice),
// w: (Cout, Cin), b: (Cout) or null, out: (N, Cout).
void linear(const float* x, std::size_t N, int Cin, std::size_t x_stride, const float* w, const float* b, int Cout,
            float* out);

// LayerNorm over the C channels of each token (biased variance), eps as given. out may alias x.
void layernorm(const float* x, std::size_t N, int C, const float* gamma, const float* beta, float eps, float* out);

void gelu_inplace(float* x, std::size_t n);  // exact erf GELU
void silu_inplace(float* x, std::size_t n);
void add_inplace(float* dst, const float* src, std::size_t n);  // dst += src
void mul_inplace(float* dst, const float* src, std::size_t n);  // dst *= src

// Depth-to-space as torch.nn.PixelShuffle. x: (H, W, Cout*s*s) → out: (s*H, s*W, Cout).
void pixel_shuffle(const float* x, int H, int W, int Cout, int s, float* out);

// Attention cores. qkvg: (N, 4C) — the output of attn.qkvg, channels q | k | v | g.
// They compute, per head, the attention output before the kind's post-processing (docs/model.md):
//   nala:    o of step 5 (φ̃q·S / (φq·m + 1e-6)), RoPE positions from H×W.
//   pola:    [x_sim, x_opp] of step 6, on q and k already divided by σ and k already position-biased
//            (the caller does steps 1-2 and passes the adjusted qkvg); `power` (heads, d) is the raw
//            parameter, p = 1 + 4·sigmoid(power).
//   softmax: softmax(q·kᵀ/√d)·v with the N×N scores materialised one head at a time (quadratic memory).
// out: (N, C). Float32 throughout, sums over tokens in blocks (two-stage) for accuracy at millions of tokens.
void nala_attention(const float* qkvg, int H, int W, int C, int heads, float* out);
void pola_attention(const float* qkvg, int H, int W, int C, int heads, const float* power, float* out);
void softmax_attention(const float* qkvg, int H, int W, int C, int heads, float* out);

// Bytes of scratch memory the attention cores allocate for an N-token input (for the memory planner).
std::size_t attention_scratch_bytes(int kind /* AttentionKind as int */, std::size_t N, int C, int heads);

// Bytes of scratch memory conv3x3 allocates (its row-band im2col buffer; independent of H beyond the band).
std::size_t conv3x3_scratch_bytes(int H, int W, int Cin);

// Helpers the network uses around the attention cores (qkvg's q | k | v | g channel slices have row stride 4C).
// out (N, C) = the first C channels of x (row stride x_stride).
void gather_channels(const float* x, std::size_t N, std::size_t x_stride, int C, float* out);
// x (N, C) *= SiLU(g) (nala, softmax) or g (pola); g has row stride g_stride.
void gate_inplace(float* x, std::size_t N, int C, const float* g, std::size_t g_stride, bool silu);
// Pola steps 1-2 on qkvg (N, 4C): q ← q/σ, k ← k_biased/σ, with k_biased (N, C) = k + kpos(k).
void pola_scale_qk(float* qkvg, std::size_t N, int C, const float* k_biased, const float* sigma);

}  // namespace nalasr::cpu
