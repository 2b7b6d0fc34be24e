// Dense 3×3 convolutions (zero padding, stride 1) as implicit GEMMs on the tensor cores: no im2col rows in
// device memory. A block stages the layer's weights once (float16, the im2col GEMM layout of cuda_weights.h) and
// then walks 8×16-pixel tiles: each tile's float16 input plus a one-pixel halo is copied into shared memory,
// and the 9 taps × Cin/16 K-steps run as mma.sync m16n8k16 (float32 accumulators). Epilogue: + bias, + the
// existing output when accumulating (all in float32), float16 out. Same arithmetic as im2col3x3 + the cuBLASLt
// GEMM: inputs (x − offset inside the image, rounded to float16; 0 outside) and float16 weights, products summed
// in float32.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace nalasr::kernels {

// Largest Cin the implicit kernel takes (all of a 64-channel slice of the weights must fit in shared memory).
constexpr int kConvImplicitMaxCin = 128;

// Whether conv3x3_implicit handles this Cin (else im2col + GEMM). Host and plan code ask this too.
constexpr bool conv3x3_implicit_supported(int cin) { return cin > 0 && cin % 16 == 0 && cin <= kConvImplicitMaxCin; }

// y row r (token t0 + r, row stride ldy) (+)= conv3x3(x − offset) + bias for the tokens [t0, t0 + count) of an
// H×W image, summed in float32 and rounded to float16 once. x: (H·W, cin) float16, rows of cin (16-byte
// aligned); w: (cout_pad, k_pad) float16 rows of [(ky·3 + kx)·cin + ci] with k_pad = 9·cin; bias: cout_pad
// float32. All cout_pad channels are written (the padded ones are 0 + 0, as the GEMM writes them). cout_pad and
// ldy multiples of 2, y 4-byte aligned; y must not overlap x (accumulating reads and writes each element of y
// once, by the same thread). conv3x3_implicit_supported(cin) must hold.
cudaError_t conv3x3_implicit(const __half* x, int H, int W, int cin, float offset, std::int64_t t0,
                             std::int64_t count, const __half* w, int k_pad, const float* bias, int cout_pad,
                             __half* y, std::int64_t ldy, bool accumulate, cudaStream_t stream);

// The upsample conv with PixelShuffle_s + 0.5 in its epilogue (no conv output in device memory): out (s·H, s·W, 3)
// float32 gets at (y·s + i, x·s + j, c) conv channel c·s² + i·s + j of pixel (y, x), + 0.5 — what
// pixel_shuffle_add_half makes of the conv's output. x float16 as above; cout_pad ≥ 3·s²; out must not overlap x.
cudaError_t conv3x3_implicit_shuffle(const __half* x, int H, int W, int cin, const __half* w, int k_pad,
                                     const float* bias, int cout_pad, int s, float* out, cudaStream_t stream);

}  // namespace nalasr::kernels
