#include "common.cuh"
#include "convert.cuh"

namespace nalasr::kernels {
namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void im2col3x3_kernel(const T* __restrict__ x, int H, int W, int Cin, float offset, std::int64_t t0,
                                 int count, int k_pad, __half* __restrict__ cols) {
    const unsigned i = blockIdx.x * blockDim.x + threadIdx.x;  // < count·k_pad, which a chunk keeps small
    if (i >= unsigned(count) * unsigned(k_pad)) return;
    const unsigned row = i / unsigned(k_pad);
    const int col = int(i - row * unsigned(k_pad));
    float value = 0.0f;
    if (col < 9 * Cin) {
        const int tap_index = col / Cin, ci = col - tap_index * Cin;
        const unsigned t = unsigned(t0 + row), ty = t / unsigned(W);  // token indices fit 32 bits (N < 2^31)
        const int y = int(ty) + tap_index / 3 - 1, xx = int(t - ty * unsigned(W)) + tap_index % 3 - 1;
        if (y >= 0 && y < H && xx >= 0 && xx < W) value = float(x[(std::int64_t(y) * W + xx) * Cin + ci]) - offset;
    }
    cols[i] = __float2half_rn(value);
}

// Eight consecutive channels as float32.
__device__ inline void load8(const float* p, float4& a, float4& b) {
    a = reinterpret_cast<const float4*>(p)[0], b = reinterpret_cast<const float4*>(p)[1];
}
__device__ inline void load8(const __half* p, float4& a, float4& b) {
    union {
        uint4 u;
        __half2 h[4];
    } raw;
    raw.u = *reinterpret_cast<const uint4*>(p);
    const float2 f0 = __half22float2(raw.h[0]), f1 = __half22float2(raw.h[1]);
    const float2 f2 = __half22float2(raw.h[2]), f3 = __half22float2(raw.h[3]);
    a = make_float4(f0.x, f0.y, f1.x, f1.y), b = make_float4(f2.x, f2.y, f3.x, f3.y);
}

// The same for Cin a multiple of 8 (so k_pad = 9·Cin): one thread per 8 channels of one tap, 16-byte stores.
template <typename T>
__global__ void im2col3x3_vec8_kernel(const T* __restrict__ x, int H, int W, int Cin, float offset,
                                      std::int64_t t0, int count, __half* __restrict__ cols) {
    const unsigned groups = unsigned(Cin) / 8, per_row = 9 * groups;
    const unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= unsigned(count) * per_row) return;
    const unsigned row = i / per_row, rem = i - row * per_row;
    const int tap_index = int(rem / groups), ci = int(rem - unsigned(tap_index) * groups) * 8;
    const unsigned t = unsigned(t0 + row), ty = t / unsigned(W);
    const int y = int(ty) + tap_index / 3 - 1, xx = int(t - ty * unsigned(W)) + tap_index % 3 - 1;
    float4 a = make_float4(0.0f, 0.0f, 0.0f, 0.0f), b = a;
    if (y >= 0 && y < H && xx >= 0 && xx < W) {
        load8(x + (std::int64_t(y) * W + xx) * Cin + ci, a, b);
        a.x -= offset, a.y -= offset, a.z -= offset, a.w -= offset;
        b.x -= offset, b.y -= offset, b.z -= offset, b.w -= offset;
    }
    union {
        __half2 h[4];
        uint4 u;
    } packed;
    packed.h[0] = __floats2half2_rn(a.x, a.y), packed.h[1] = __floats2half2_rn(a.z, a.w);
    packed.h[2] = __floats2half2_rn(b.x, b.y), packed.h[3] = __floats2half2_rn(b.z, b.w);
    *reinterpret_cast<uint4*>(cols + row * (9 * Cin) + tap_index * Cin + ci) = packed.u;
}

__global__ void pixel_shuffle_kernel(const float* __restrict__ conv, int ld, std::int64_t t0, int count, int W,
                                     int cout, int s, float* __restrict__ out) {
    const unsigned per_row = unsigned(cout * s * s);
    const unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= unsigned(count) * per_row) return;
    const unsigned row = i / per_row;
    const int ch = int(i - row * per_row);
    const int c = ch / (s * s), ij = ch - c * s * s, di = ij / s, dj = ij - di * s;
    const unsigned t = unsigned(t0 + row), ty = t / unsigned(W);
    const std::int64_t y = ty, x = t - ty * unsigned(W);
    out[((y * s + di) * (std::int64_t(W) * s) + x * s + dj) * cout + c] = conv[row * ld + ch] + 0.5f;
}

__global__ void f32_to_f16_kernel(const float* __restrict__ src, __half* __restrict__ dst, std::int64_t n) {
    const std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i < n) dst[i] = __float2half_rn(src[i]);
}

__global__ void f16_to_f32_kernel(const __half* __restrict__ src, float* __restrict__ dst, std::int64_t n) {
    const std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i < n) dst[i] = __half2float(src[i]);
}

template <typename T>
__global__ void add_bias_kernel(T* __restrict__ y, std::int64_t rows, int cols, std::int64_t ld,
                                const T* __restrict__ bias) {
    const std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i >= rows * cols) return;
    const std::int64_t r = i / cols;
    const int c = int(i - r * cols);
    y[r * ld + c] = T(float(y[r * ld + c]) + float(bias[c]));
}

unsigned blocks_for(std::int64_t n) { return unsigned(div_up(n, kThreads)); }

template <typename T>
cudaError_t launch_im2col3x3(const T* x, int H, int W, int Cin, float offset, std::int64_t t0, int count, int k_pad,
                             __half* cols, cudaStream_t stream) {
    if (Cin % 8 == 0 && k_pad == 9 * Cin) {
        const std::int64_t n = std::int64_t(count) * 9 * (Cin / 8);
        if (n > 0) im2col3x3_vec8_kernel<<<blocks_for(n), kThreads, 0, stream>>>(x, H, W, Cin, offset, t0, count, cols);
        return cudaGetLastError();
    }
    const std::int64_t n = std::int64_t(count) * k_pad;
    if (n > 0) im2col3x3_kernel<<<blocks_for(n), kThreads, 0, stream>>>(x, H, W, Cin, offset, t0, count, k_pad, cols);
    return cudaGetLastError();
}

}  // namespace

cudaError_t im2col3x3(const float* x, int H, int W, int Cin, float offset, std::int64_t t0, int count, int k_pad,
                      __half* cols, cudaStream_t stream) {
    return launch_im2col3x3(x, H, W, Cin, offset, t0, count, k_pad, cols, stream);
}

cudaError_t im2col3x3(const __half* x, int H, int W, int Cin, float offset, std::int64_t t0, int count, int k_pad,
                      __half* cols, cudaStream_t stream) {
    return launch_im2col3x3(x, H, W, Cin, offset, t0, count, k_pad, cols, stream);
}

cudaError_t pixel_shuffle_add_half(const float* conv, int ld, std::int64_t t0, int count, int W, int cout, int s,
                                   float* out, cudaStream_t stream) {
    const std::int64_t n = std::int64_t(count) * cout * s * s;
    if (n > 0) pixel_shuffle_kernel<<<blocks_for(n), kThreads, 0, stream>>>(conv, ld, t0, count, W, cout, s, out);
    return cudaGetLastError();
}

cudaError_t f32_to_f16(const float* src, __half* dst, std::int64_t n, cudaStream_t stream) {
    if (n > 0) f32_to_f16_kernel<<<blocks_for(n), kThreads, 0, stream>>>(src, dst, n);
    return cudaGetLastError();
}

cudaError_t f16_to_f32(const __half* src, float* dst, std::int64_t n, cudaStream_t stream) {
    if (n > 0) f16_to_f32_kernel<<<blocks_for(n), kThreads, 0, stream>>>(src, dst, n);
    return cudaGetLastError();
}

cudaError_t add_bias_f32(float* y, std::int64_t rows, int cols, std::int64_t ld, const float* bias,
                         cudaStream_t stream) {
    if (rows * cols > 0) add_bias_kernel<<<blocks_for(rows * cols), kThreads, 0, stream>>>(y, rows, cols, ld, bias);
    return cudaGetLastError();
}

cudaError_t add_bias_f16(__half* y, std::int64_t rows, int cols, std::int64_t ld, const __half* bias,
                         cudaStream_t stream) {
    if (rows * cols > 0) add_bias_kernel<<<blocks_for(rows * cols), kThreads, 0, stream>>>(y, rows, cols, ld, bias);
    return cudaGetLastError();
}

}  // namespace nalasr::kernels
