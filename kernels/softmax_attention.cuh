// Kernels of the softmax-attention baseline (memory comparison only): the N×N scores of one head are
// materialised in float32 by cuBLAS (core/src/cuda), turned into probabilities here, and multiplied with v.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace nalasr::kernels {

// Each of the `rows` rows of `scores` (row stride `cols`) becomes softmax(scale · row), in place.
cudaError_t softmax_rows(float* scores, std::int64_t rows, std::int64_t cols, float scale, cudaStream_t stream);

// dst (N, width) float32, contiguous  ←  src (N, width) float16 with row stride ld.
cudaError_t gather_f16_to_f32(const __half* src, std::int64_t ld, std::int64_t N, int width, float* dst,
                              cudaStream_t stream);
// dst (N, width) float16 with row stride ld  ←  src (N, width) float32, contiguous.
cudaError_t scatter_f32_to_f16(const float* src, std::int64_t N, int width, __half* dst, std::int64_t ld,
                               cudaStream_t stream);

}  // namespace nalasr::kernels
