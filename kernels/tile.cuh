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

__device__ inline void store4(float* p, float4 v) { *reinterpret_cast<float4*>(p) = v; }

struct Identity {
    __device__ float operator()(float v) const { return v; }
};

// Four consecutive elements of T as one load: 16 bytes of float, 8 bytes of float16.
template <typename T>
struct Quad;
template <>
struct Quad<float> {
    using type = float4;
};
template <>
struct Quad<__half> {
    using type = uint2;
};
__device__ inline float4 to_float4(float4 v) { return v; }
__device__ inline float4 to_float4(uint2 u) {
    const float2 a = __half22float2(*reinterpret_cast<const __half2*>(&u.x));
    const float2 b = __half22float2(*reinterpret_cast<const __half2*>(&u.y));
    return make_float4(a.x, a.y, b.x, b.y);
}

// Loads each thread keeps in flight while staging (64 bytes: 4 float32 or 8 float16 quads), so a tile costs one or
// two rounds of memory latency rather than one per element, for 16 registers.
template <typename T>
constexpr int kStageBatch = 64 / int(sizeof(typename Quad<T>::type));

// Copies channels [c0, c0 + cw) of the pixels (y0 − R … y0 + kTileY + R − 1) × (x0 − R … x0 + kTileX + R − 1) of
// `src` (row stride ld elements) into the float32 tile[pixel][cw], applying `fn` to each in-image value. cw, c0 and
// ld must be multiples of 4 (4-element loads). All threads of the block take part; the caller syncs afterwards.
// Each thread walks the (pixel, quad) items blockDim.x apart, issuing Batch loads (default kStageBatch<T>) before the
// first store; a kernel short of registers may ask for fewer.
template <int R, int Batch = 0, typename T, typename Fn>
__device__ void stage_tile(const T* __restrict__ src, std::int64_t ld, int H, int W, int y0, int x0, int c0, int cw,
                           float* __restrict__ tile, Fn fn) {
    constexpr int kCols = kTileX + 2 * R, kPixels = tile_pixels(R);
    using Raw = typename Quad<T>::type;
    constexpr int kBatch = Batch > 0 ? Batch : kStageBatch<T>;
    const int quads = cw / 4, step = blockDim.x;
    // (pixel, q) of the thread's next item, advanced by `step` items without divisions.
    int pixel = threadIdx.x / quads, q = threadIdx.x - pixel * quads;
    const int pixel_step = step / quads, q_step = step - pixel_step * quads;
    while (pixel < kPixels) {
        Raw raw[kBatch];
        int slot[kBatch];  // the item's element offset in the tile, or −1 past the end
        bool inside[kBatch];
#pragma unroll
        for (int i = 0; i < kBatch; ++i) {
            const int py = pixel / kCols, px = pixel - py * kCols;
            const int gy = y0 + py - R, gx = x0 + px - R;
            slot[i] = pixel < kPixels ? pixel * cw + 4 * q : -1;
            inside[i] = pixel < kPixels && gy >= 0 && gy < H && gx >= 0 && gx < W;
            if (inside[i])
                raw[i] = *reinterpret_cast<const Raw*>(src + (std::int64_t(gy) * W + gx) * ld + c0 + 4 * q);
            pixel += pixel_step, q += q_step;
            if (q >= quads) q -= quads, ++pixel;
        }
#pragma unroll
        for (int i = 0; i < kBatch; ++i) {
            if (slot[i] < 0) break;
            float4 v = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
            if (inside[i]) {
                v = to_float4(raw[i]);
                v = make_float4(fn(v.x), fn(v.y), fn(v.z), fn(v.w));
            }
            store4(tile + slot[i], v);
        }
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

// Lets `kernel` use `bytes` of dynamic shared memory (needed above 48 KB).
template <typename Kernel>
cudaError_t allow_shared_memory(Kernel kernel, std::size_t bytes) {
    if (bytes <= kDefaultSharedBytes) return cudaSuccess;
    return cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes));
}

}  // namespace nalasr::kernels
