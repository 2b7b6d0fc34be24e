// Device helpers shared by the kernel files (included by .cu files only, never by host code).
#pragma once

#include <cuda_fp16.h>

#include <cstdint>

namespace nalasr::kernels {

constexpr unsigned kFullMask = 0xffffffffu;

__host__ __device__ inline std::int64_t div_up(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

__device__ inline float warp_sum(float v) {
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(kFullMask, v, offset);
    return v;
}

// Exact (erf) GELU, as the model definition requires; erff is not replaced by --use_fast_math.
// Written as h + h·erf (h = x/2): one FMA where h·(1 + erf) takes an add and a multiply.
__device__ inline float gelu_erf(float x) {
    const float h = 0.5f * x;
    return fmaf(h, erff(x * 0.70710678118654752f), h);
}

__device__ inline float silu(float x) { return x / (1.0f + __expf(-x)); }

// x^p for x >= 0 with 0^p = 0 (p > 0). The explicit branch keeps log2(0) out of the arithmetic.
__device__ inline float pow_nonneg(float x, float p) { return x > 0.0f ? exp2f(p * __log2f(x)) : 0.0f; }

}  // namespace nalasr::kernels
