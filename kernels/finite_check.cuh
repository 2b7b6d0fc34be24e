// The output check (docs/robustness.md, "Half-precision failures"): how many values of a float array are NaN or
// ±Inf, and its largest value, on the GPU in one read of the array (one pair of atomics per block). Run on the
// network's float output before it is converted to samples, where a NaN would silently become 0 (black).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>

namespace nalasr::kernels {

// What check_finite finds. max_bits holds the largest finite value as float bits, of max(+0, values): non-negative
// floats order like their bits, so the kernel can use an integer atomicMax. Lives in device memory.
struct FiniteCheck {
    unsigned long long non_finite;  // NaN, +Inf and −Inf values
    unsigned int max_bits;
    unsigned int unused;
};

// The largest finite value of the checked array, or 0 when none is positive.
inline float finite_check_max(const FiniteCheck& check) {
    float value = 0.0f;
    std::memcpy(&value, &check.max_bits, sizeof value);
    return value;
}

// Zeroes *result (device memory) and fills it from data[0, n) (device memory, any alignment), enqueued on `stream`.
cudaError_t check_finite(const float* data, std::int64_t n, FiniteCheck* result, cudaStream_t stream);

}  // namespace nalasr::kernels
