#include "common.cuh"
#include "softmax_attention.cuh"

#include <cfloat>

namespace nalasr::kernels {
namespace {

constexpr int kThreads = 256;

// Block-wide reduction of one value per thread (kThreads threads); `op` is max or sum.
template <typename Op>
__device__ float block_reduce(float v, Op op, float* shared) {
    for (int offset = 16; offset > 0; offset >>= 1) v = op(v, __shfl_xor_sync(kFullMask, v, offset));
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    v = shared[0];
    for (int w = 1; w < kThreads / 32; ++w) v = op(v, shared[w]);
    __syncthreads();
    return v;
}

// One block per row.
__global__ void softmax_rows_kernel(float* scores, std::int64_t cols, float scale) {
    __shared__ float shared[kThreads / 32];
    float* row = scores + std::int64_t(blockIdx.x) * cols;
    float mx = -FLT_MAX;
    for (std::int64_t j = threadIdx.x; j < cols; j += kThreads) mx = fmaxf(mx, row[j] * scale);
    mx = block_reduce(mx, [](float a, float b) { return fmaxf(a, b); }, shared);
    float sum = 0.0f;
    for (std::int64_t j = threadIdx.x; j < cols; j += kThreads) {
        const float e = __expf(row[j] * scale - mx);
        row[j] = e;
        sum += e;
    }
    sum = block_reduce(sum, [](float a, float b) { return a + b; }, shared);
    const float inv = 1.0f / sum;
    for (std::int64_t j = threadIdx.x; j < cols; j += kThreads) row[j] *= inv;
}

__global__ void gather_kernel(const __half* __restrict__ src, std::int64_t ld, std::int64_t N, int width,
                              float* __restrict__ dst) {
    const std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i >= N * width) return;
    const std::int64_t t = i / width;
    dst[i] = __half2float(src[t * ld + (i - t * width)]);
}

__global__ void scatter_kernel(const float* __restrict__ src, std::int64_t N, int width, __half* __restrict__ dst,
                               std::int64_t ld) {
    const std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i >= N * width) return;
    const std::int64_t t = i / width;
    dst[t * ld + (i - t * width)] = __float2half_rn(src[i]);
}

}  // namespace

cudaError_t softmax_rows(float* scores, std::int64_t rows, std::int64_t cols, float scale, cudaStream_t stream) {
    if (rows > 0x7fffffff) return cudaErrorInvalidValue;
    if (rows > 0) softmax_rows_kernel<<<unsigned(rows), kThreads, 0, stream>>>(scores, cols, scale);
    return cudaGetLastError();
}

cudaError_t gather_f16_to_f32(const __half* src, std::int64_t ld, std::int64_t N, int width, float* dst,
                              cudaStream_t stream) {
    if (N * width > 0)
        gather_kernel<<<unsigned(div_up(N * width, kThreads)), kThreads, 0, stream>>>(src, ld, N, width, dst);
    return cudaGetLastError();
}

cudaError_t scatter_f32_to_f16(const float* src, std::int64_t N, int width, __half* dst, std::int64_t ld,
                               cudaStream_t stream) {
    if (N * width > 0)
        scatter_kernel<<<unsigned(div_up(N * width, kThreads)), kThreads, 0, stream>>>(src, N, width, dst, ld);
    return cudaGetLastError();
}

}  // namespace nalasr::kernels
