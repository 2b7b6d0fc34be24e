// Layout and precision conversions around the GEMMs: im2col for the 3×3 convolutions, PixelShuffle of the
// last convolution, float32 ↔ float16 copies and the bias add used when cuBLASLt cannot fuse the bias.
// All maps are token-major (token t = y·W + x, channels contiguous); every launcher enqueues on `stream` and
// returns the launch status (cudaGetLastError).
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace nalasr::kernels {

// The im2col rows of tokens [t0, t0 + count) of a 3×3 convolution with zero padding: row r holds, at column
// (ky·3 + kx)·Cin + ci, the value x(y+ky−1, x+kx−1, ci) − offset (0 outside the image), for k_pad ≥ 9·Cin
// columns (the extra columns are 0, so the GEMM's K stays a multiple of 8). `offset` lets conv_first read
// the raw image and convolve (image − 0.5) with correct zero padding. x: the float32 image (conv_first) or the
// float16 residual stream (the C-input convs the implicit kernel does not take); x − offset is rounded once.
cudaError_t im2col3x3(const float* x, int H, int W, int Cin, float offset, std::int64_t t0, int count, int k_pad,
                      __half* cols, cudaStream_t stream);
cudaError_t im2col3x3(const __half* x, int H, int W, int Cin, float offset, std::int64_t t0, int count, int k_pad,
                      __half* cols, cudaStream_t stream);

// out (s·H, s·W, cout) of a W-wide input = PixelShuffle_s(conv) + 0.5 for the tokens [t0, t0 + count); conv row r (token t0 + r)
// has row stride `ld` and cout·s² used channels (channel c·s² + i·s + j goes to output (y·s+i, x·s+j, c)).
cudaError_t pixel_shuffle_add_half(const float* conv, int ld, std::int64_t t0, int count, int W, int cout, int s,
                                   float* out, cudaStream_t stream);

cudaError_t f32_to_f16(const float* src, __half* dst, std::int64_t n, cudaStream_t stream);
cudaError_t f16_to_f32(const __half* src, float* dst, std::int64_t n, cudaStream_t stream);

// y (rows × cols, row stride ld) += bias (cols). For the GEMM path without a fused bias epilogue.
cudaError_t add_bias_f32(float* y, std::int64_t rows, int cols, std::int64_t ld, const float* bias,
                         cudaStream_t stream);
cudaError_t add_bias_f16(__half* y, std::int64_t rows, int cols, std::int64_t ld, const __half* bias,
                         cudaStream_t stream);

}  // namespace nalasr::kernels
