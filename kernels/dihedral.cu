#include "common.cuh"
#include "dihedral.cuh"
#include "dihedral.h"

namespace nalasr::kernels {
namespace {

constexpr int kThreads = 256;

// One thread per pixel of the transformed image, as the host loops run: the copy reads scattered and writes in
// order, the accumulation reads in order and writes scattered (each pixel of `sum` once, so no atomics).
__global__ void dihedral_transform_kernel(const float* __restrict__ rgb, DihedralMap map, float* __restrict__ out) {
    const std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i >= std::int64_t(map.tw) * map.th) return;
    const float* from = rgb + map.source(int(i % map.tw), int(i / map.tw)) * 3;
    float* to = out + i * 3;
    to[0] = from[0], to[1] = from[1], to[2] = from[2];
}

// Additions only (nothing for --use_fast_math to contract), in the host's order: the passes stay bit-identical.
__global__ void add_inverse_dihedral_kernel(const float* __restrict__ transformed, DihedralMap map,
                                            float* __restrict__ sum) {
    const std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i >= std::int64_t(map.tw) * map.th) return;
    const float* from = transformed + i * 3;
    float* to = sum + map.source(int(i % map.tw), int(i / map.tw)) * 3;
    to[0] += from[0], to[1] += from[1], to[2] += from[2];
}

__global__ void scale_values_kernel(float* values, std::int64_t n, float factor) {
    const std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i < n) values[i] *= factor;
}

unsigned blocks_for(std::int64_t n) { return unsigned(div_up(n, kThreads)); }

}  // namespace

cudaError_t dihedral_transform(const float* rgb, int width, int height, int t, float* out, cudaStream_t stream) {
    const std::int64_t pixels = std::int64_t(width) * height;
    if (pixels <= 0) return cudaGetLastError();
    dihedral_transform_kernel<<<blocks_for(pixels), kThreads, 0, stream>>>(rgb, dihedral_map(t, width, height), out);
    return cudaGetLastError();
}

cudaError_t add_inverse_dihedral(const float* transformed, int width, int height, int t, float* sum,
                                 cudaStream_t stream) {
    const std::int64_t pixels = std::int64_t(width) * height;
    if (pixels <= 0) return cudaGetLastError();
    add_inverse_dihedral_kernel<<<blocks_for(pixels), kThreads, 0, stream>>>(transformed,
                                                                             dihedral_map(t, width, height), sum);
    return cudaGetLastError();
}

cudaError_t scale_values(float* values, std::int64_t n, float factor, cudaStream_t stream) {
    if (n <= 0) return cudaGetLastError();
    scale_values_kernel<<<blocks_for(n), kThreads, 0, stream>>>(values, n, factor);
    return cudaGetLastError();
}

}  // namespace nalasr::kernels
