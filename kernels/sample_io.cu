#include "common.cuh"
#include "sample_io.cuh"

namespace nalasr::kernels {
namespace {

constexpr int kThreads = 256;

// This library is built with --use_fast_math (approximate division, FMA contraction); the _rn intrinsics keep
// every operation here correctly rounded, as on the host. Flushing denormals cannot change a result: a sum or
// product that small quantises to 0 either way.
template <typename T>
__device__ inline float to_unit(T v, float max) {
    return __fdiv_rn(float(v), max);
}

template <typename T>
__device__ inline T quantise(float x, float max) {
    return T(x > 0.0f ? rintf(__fmul_rn(fminf(x, 1.0f), max)) : 0.0f);  // NaN → 0; rintf rounds half to even
}

template <typename T>
__global__ void samples_to_rgb_kernel(const T* __restrict__ samples, int channels, std::int64_t pixels, float max,
                                      float* __restrict__ rgb) {
    const std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i >= pixels) return;
    const T* p = samples + i * channels;
    float* out = rgb + i * 3;
    if (channels >= 3) {
        out[0] = to_unit(p[0], max), out[1] = to_unit(p[1], max), out[2] = to_unit(p[2], max);
    } else {
        out[0] = out[1] = out[2] = to_unit(p[0], max);
    }
}

template <typename T>
__global__ void rgb_to_samples_kernel(const float* __restrict__ rgb, std::int64_t pixels, int channels, float max,
                                      T* __restrict__ samples) {
    const std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i >= pixels) return;
    const float* v = rgb + i * 3;
    T* p = samples + i * channels;
    if (channels <= 2) {
        p[0] = quantise<T>(__fdiv_rn(__fadd_rn(__fadd_rn(v[0], v[1]), v[2]), 3.0f), max);
    } else {
        p[0] = quantise<T>(v[0], max), p[1] = quantise<T>(v[1], max), p[2] = quantise<T>(v[2], max);
    }
    if (channels == 2 || channels == 4) p[channels - 1] = T(0);
}

unsigned blocks_for(std::int64_t n) { return unsigned(div_up(n, kThreads)); }

}  // namespace

cudaError_t samples_to_rgb(const void* samples, IntSample type, int channels, std::int64_t pixels, float* rgb,
                           cudaStream_t stream) {
    if (pixels <= 0) return cudaGetLastError();
    if (type == IntSample::U8)
        samples_to_rgb_kernel<<<blocks_for(pixels), kThreads, 0, stream>>>(
            static_cast<const std::uint8_t*>(samples), channels, pixels, 255.0f, rgb);
    else
        samples_to_rgb_kernel<<<blocks_for(pixels), kThreads, 0, stream>>>(
            static_cast<const std::uint16_t*>(samples), channels, pixels, 65535.0f, rgb);
    return cudaGetLastError();
}

cudaError_t rgb_to_samples(const float* rgb, std::int64_t pixels, int channels, IntSample type, void* samples,
                           cudaStream_t stream) {
    if (pixels <= 0) return cudaGetLastError();
    if (type == IntSample::U8)
        rgb_to_samples_kernel<<<blocks_for(pixels), kThreads, 0, stream>>>(rgb, pixels, channels, 255.0f,
                                                                           static_cast<std::uint8_t*>(samples));
    else
        rgb_to_samples_kernel<<<blocks_for(pixels), kThreads, 0, stream>>>(rgb, pixels, channels, 65535.0f,
                                                                           static_cast<std::uint16_t*>(samples));
    return cudaGetLastError();
}

}  // namespace nalasr::kernels
