#include <algorithm>

#include "common.cuh"
#include "finite_check.cuh"

namespace nalasr::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
// Enough blocks to fill an H100 (132 SMs × 2048 threads ≈ 1024 blocks of 256); each thread strides over the rest.
constexpr std::int64_t kMaxBlocks = 1024;

// Bit tests rather than isfinite(): this library builds with --use_fast_math, and the bits cannot be optimised away.
struct Tally {
    unsigned long long non_finite = 0;
    unsigned int max_bits = 0;  // bits of +0

    __device__ void add(float v) {
        const unsigned int bits = __float_as_uint(v);
        if ((bits & 0x7f800000u) == 0x7f800000u) ++non_finite;  // exponent all ones: NaN or ±Inf
        else if (!(bits >> 31)) max_bits = max(max_bits, bits);  // finite and non-negative: ordered like the value
    }
};

__global__ void check_finite_kernel(const float* __restrict__ data, std::int64_t n, bool aligned,
                                    FiniteCheck* __restrict__ result) {
    Tally t;
    const std::int64_t stride = std::int64_t(gridDim.x) * blockDim.x;
    const std::int64_t first = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    // 16-byte loads for the aligned body, then the last n % 4 values (or all of them when not aligned) one by one.
    const std::int64_t quads = aligned ? n / 4 : 0;
    const float4* data4 = reinterpret_cast<const float4*>(data);
    for (std::int64_t i = first; i < quads; i += stride) {
        const float4 v = data4[i];
        t.add(v.x), t.add(v.y), t.add(v.z), t.add(v.w);
    }
    for (std::int64_t i = quads * 4 + first; i < n; i += stride) t.add(data[i]);

    for (int offset = 16; offset > 0; offset >>= 1) {
        t.non_finite += __shfl_down_sync(kFullMask, t.non_finite, offset);
        t.max_bits = max(t.max_bits, __shfl_down_sync(kFullMask, t.max_bits, offset));
    }
    __shared__ unsigned long long counts[kWarps];
    __shared__ unsigned int maxima[kWarps];
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    if (lane == 0) counts[warp] = t.non_finite, maxima[warp] = t.max_bits;
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int w = 1; w < kWarps; ++w) t.non_finite += counts[w], t.max_bits = max(t.max_bits, maxima[w]);
        if (t.non_finite) atomicAdd(&result->non_finite, t.non_finite);
        if (t.max_bits) atomicMax(&result->max_bits, t.max_bits);
    }
}

}  // namespace

cudaError_t check_finite(const float* data, std::int64_t n, FiniteCheck* result, cudaStream_t stream) {
    if (cudaError_t e = cudaMemsetAsync(result, 0, sizeof(FiniteCheck), stream); e != cudaSuccess) return e;
    if (n <= 0) return cudaGetLastError();
    const bool aligned = reinterpret_cast<std::uintptr_t>(data) % 16 == 0;
    const std::int64_t work = aligned ? n / 4 + n % 4 : n;
    const unsigned blocks = unsigned(std::min(kMaxBlocks, div_up(work, kThreads)));
    check_finite_kernel<<<blocks, kThreads, 0, stream>>>(data, n, aligned, result);
    return cudaGetLastError();
}

}  // namespace nalasr::kernels
