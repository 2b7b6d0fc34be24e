// Shared-memory tiles for the depthwise convolutions (device code; included by .cu files only). A block computes
// a kTileY × kTileX patch of tokens: it first stages the patch plus a halo of r pixels on every side (zeros
// outside the image, which is the convolutions' zero padding) for a run of channels, so each input element is
// read from memory about (4+2r)(8+2r)/32 times instead of (2r+1)² times, and the tap loops need no bounds checks.
#pragma once

#include <cuda_fp16.h>

#include <cstddef>
#include <cstdint>

namespace nalasr::kernels {

constexpr int kTileY = 4;
constexpr int kTileX = 8;
constexpr int kTileTokens = kTileY * kTileX;
constexpr std::size_t kDefaultSharedBytes = 48 * 1024;  // above this a kernel must opt in

// Pixels of a tile with a halo of r on every side.
__host__ __device__ constexpr int tile_pixels(int r) { return (kTileY + 2 * r) * (kTileX + 2 * r); }

__device__ inline float4 load4(const float* p) { return *reinterpret_cast<const float4*>(p); }
__device__ inline float4 load4(const __half* p) {
    const uint2 u = *reinterpret_cast<const uint2*>(p);
    const float2 a = __half22float2(*reinterpret_cast<const __half2*>(&u.x));
    const float2 b = __half22float2(*reinterpret_cast<const __half2*>(&u.y));
    return make_float4(a.x, a.y, b.x, b.y);
}
__device__ inline void store4(float* p, float4 v) { *reinterpret_cast<float4*>(p) = v; }
__device__ inline void store4(__half* p, float4 v) {
    const __half2 a = __floats2half2_rn(v.x, v.y), b = __floats2half2_rn(v.z, v.w);
    uint2 u;
    u.x = *reinterpret_cast<const unsigned*>(&a);
    u.y = *reinterpret_cast<const unsigned*>(&b);
    *reinterpret_cast<uint2*>(p) = u;
}

// Copies channels [c0, c0 + cw) of the pixels (y0 − r … y0 + kTileY + r − 1) × (x0 − r … x0 + kTileX + r − 1) of
// `src` (row stride ld elements) into tile[pixel][cw], applying `fn` to each in-image value. cw, c0 and ld
// must be multiples of 4 (4-element loads). All threads of the block take part; the caller syncs afterwards.
template <typename T, typename S, typename Fn>
__device__ void stage_tile(const T* __restrict__ src, std::int64_t ld, int H, int W, int y0, int x0, int r, int c0,
                           int cw, S* __restrict__ tile, Fn fn) {
    const int cols = kTileX + 2 * r, quads = cw / 4, total = tile_pixels(r) * quads;
    for (int idx = threadIdx.x; idx < total; idx += blockDim.x) {
        const int pixel = idx / quads, q = idx - pixel * quads;
        const int py = pixel / cols, px = pixel - py * cols;
        const int gy = y0 + py - r, gx = x0 + px - r;
        float4 v = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        if (gy >= 0 && gy < H && gx >= 0 && gx < W) {
            v = load4(src + (std::int64_t(gy) * W + gx) * ld + c0 + 4 * q);
            v = make_float4(fn(v.x), fn(v.y), fn(v.z), fn(v.w));
        }
        store4(tile + std::size_t(idx) * 4, v);
    }
}

__device__ inline float2 load2(const float* p) { return *reinterpret_cast<const float2*>(p); }
__device__ inline float2 load2(const __half* p) { return __half22float2(*reinterpret_cast<const __half2*>(p)); }

// The K·K taps of the channel pair (f, f + 1) from tap-major depthwise weights (row stride `stride`, even).
template <int K>
__device__ inline void load_taps(const float* __restrict__ w, int stride, int f, float2 (&taps)[K * K]) {
#pragma unroll
    for (int tap = 0; tap < K * K; ++tap) taps[tap] = load2(w + tap * stride + f);
}

// Adds the K×K depthwise taps of channel pair (c, c + 1) to the kTileY tokens of tile column tx:
// acc[ty] += Σ taps[dy·K + dx] · tile[ty + dy][tx + dx], for a tile staged with a halo of K/2 (row stride
// ld elements per pixel). Each staged pixel of the column's window is read once and feeds every token it
// reaches, so a warp that owns one column reads (kTileY + K − 1)·K pixels instead of kTileY·K².
template <int K, typename S>
__device__ inline void column_taps(const S* __restrict__ tile, int ld, int tx, int c, const float2 (&taps)[K * K],
                                   float2 (&acc)[kTileY]) {
    constexpr int kCols = kTileX + K - 1;
#pragma unroll
    for (int row = 0; row < kTileY + K - 1; ++row)
#pragma unroll
        for (int dx = 0; dx < K; ++dx) {
            const float2 nb = load2(tile + (row * kCols + tx + dx) * ld + c);
#pragma unroll
            for (int ty = 0; ty < kTileY; ++ty) {
                const int dy = row - ty;
                if (dy < 0 || dy >= K) continue;  // resolved at compile time
                acc[ty].x += taps[dy * K + dx].x * nb.x;
                acc[ty].y += taps[dy * K + dx].y * nb.y;
            }
        }
}

struct Identity {
    __device__ float operator()(float v) const { return v; }
};

// Lets `kernel` use `bytes` of dynamic shared memory (needed above 48 KB).
template <typename Kernel>
cudaError_t allow_shared_memory(Kernel kernel, std::size_t bytes) {
    if (bytes <= kDefaultSharedBytes) return cudaSuccess;
    return cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes));
}

}  // namespace nalasr::kernels
