#include <algorithm>

#include "common.cuh"
#include "conv3x3.cuh"

namespace nalasr::kernels {
namespace {

constexpr int kThreads = 256;  // 8 warps: warp w owns tile rows 2·(w % 4), +1 and output channels 32·(w / 4) … +31
constexpr int kTileH = 8, kTileW = 16;  // pixels of a tile (128 tokens); a tile row is one m16 MMA block
constexpr int kHaloH = kTileH + 2, kHaloW = kTileW + 2, kHaloPixels = kHaloH * kHaloW;
constexpr int kCoutTile = 64;  // output channels per block; blockIdx.y picks the slice
// Halves of padding at the end of every shared row (halo pixel or weight row). Rows are then 16-byte aligned and
// an odd multiple of 16 bytes long, so the 8 rows one ldmatrix phase reads start in 8 distinct 16-byte bank groups.
constexpr int kRowPad = 8;
constexpr int kStageBatch = 6;  // 16-byte loads each thread issues before storing any

__host__ __device__ constexpr int halo_stride(int cin) { return cin + kRowPad; }
__host__ __device__ constexpr int weight_stride(int cin) { return 9 * cin + kRowPad; }
constexpr int kMaxShuffle = 4;  // 3·s² output channels must fit one 64-channel block
// Floats of a tile's PixelShuffle_s output staged in shared memory: kTileH·s rows of kTileW·s·3 (the image layout).
__host__ __device__ constexpr int shuffle_tile_floats(int s) { return kTileH * s * kTileW * s * 3; }
// The weight slice, then the halo; the upsample variant stages its output tile over the halo once the MMAs are done
// with it (at Cin 64 and s = 4: 24,576 bytes of output in 25,920 of halo, so no more shared memory).
std::size_t shared_bytes(int cin, int shuffle) {
    const std::size_t halo = std::size_t(kHaloPixels) * halo_stride(cin) * sizeof(__half);
    const std::size_t out = shuffle > 0 ? std::size_t(shuffle_tile_floats(shuffle)) * sizeof(float) : 0;
    return std::size_t(kCoutTile) * weight_stride(cin) * sizeof(__half) + std::max(halo, out);
}

__device__ inline unsigned shared_address(const void* p) { return unsigned(__cvta_generic_to_shared(p)); }

// Four 8×8 float16 matrices; lanes 8i … 8i+7 give the row addresses of matrix i, register i receives matrix i
// (lane l holds row l / 4, elements 2·(l % 4), +1).
__device__ inline void ldmatrix_x4(unsigned address, unsigned (&r)[4]) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(address));
}

// d (16×8, float32) += a (16×16 row-major, float16) · b (16×8 column-major, float16).
__device__ inline void mma_16816(float (&d)[4], const unsigned (&a)[4], unsigned b0, unsigned b1) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// A warp's 32 tokens (two tile rows) × 8·n8 output channels over the 9 taps × cin/16 K-steps. a_base: the
// ldmatrix row address of the warp's first tile row for tap (0, 0); b_base: that of its first weight row.
template <int cin, int n8>
__device__ __forceinline__ void mma_taps(float (&acc)[2][4][4], unsigned a_base, unsigned b_base) {
    static_assert(n8 == 2 || n8 == 4, "one or two ldmatrix.x4 of weights per K-step");
    constexpr int halo_ld = halo_stride(cin), ws_ld = weight_stride(cin);
#pragma unroll 1
    for (int tap = 0; tap < 9; ++tap) {
        const int dy = tap / 3, dx = tap - 3 * dy;
        const unsigned a_tap = a_base + unsigned((dy * kHaloW + dx) * halo_ld) * 2u;
        const unsigned b_tap = b_base + unsigned(tap * cin) * 2u;
#pragma unroll
        for (int kc = 0; kc < cin; kc += 16) {
            unsigned a[2][4], b[2][4];
            ldmatrix_x4(a_tap + unsigned(kc) * 2u, a[0]);
            ldmatrix_x4(a_tap + unsigned(kHaloW * halo_ld + kc) * 2u, a[1]);  // the next tile row
            ldmatrix_x4(b_tap + unsigned(kc) * 2u, b[0]);                     // channels 0-15 of the warp
            if constexpr (n8 == 4) ldmatrix_x4(b_tap + unsigned(16 * ws_ld + kc) * 2u, b[1]);  // 16-31
#pragma unroll
            for (int mi = 0; mi < 2; ++mi)
#pragma unroll
                for (int j = 0; j < n8; ++j) mma_16816(acc[mi][j], a[mi], b[j / 2][(j % 2) * 2], b[j / 2][(j % 2) * 2 + 1]);
        }
    }
}

// Persistent blocks: each stages its 64-channel slice of the weights once, then computes the tiles blockIdx.x,
// blockIdx.x + gridDim.x, … of the rows [row0, row0 + 8·tile_rows) (tile = ty·tile_cols + tx). Tokens outside
// [t_begin, t_end) or the image are computed from the halo but not written. y_out: __half (shuffle == 0) or the
// float image (shuffle = s > 0).
template <int cin>
__global__ void __launch_bounds__(kThreads, 2)
    conv3x3_implicit_kernel(const __half* __restrict__ x, int H, int W, float offset, int row0,
                            int tile_cols, int tiles, std::int64_t t_begin, std::int64_t t_end,
                            const __half* __restrict__ w, int k_pad, const float* __restrict__ bias, int cout_pad,
                            void* __restrict__ y_out, std::int64_t ldy, bool accumulate, int shuffle) {
    extern __shared__ __align__(16) unsigned char shared_raw[];
    constexpr int ws_ld = weight_stride(cin), halo_ld = halo_stride(cin);
    __half* ws = reinterpret_cast<__half*>(shared_raw);  // [cout 64][9·cin (+pad)]
    __half* halo = ws + kCoutTile * ws_ld;               // [(hy·18 + hx)][cin (+pad)]
    const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
    const int co0 = blockIdx.y * kCoutTile;

    // The weight slice: rows co0 … co0+63 (zeros past cout_pad), 16-byte chunks.
    {
        constexpr int chunks = 9 * cin / 8;  // per row
#pragma unroll 4
        for (int i = tid; i < kCoutTile * chunks; i += kThreads) {
            const int r = i / chunks, c = i - r * chunks;
            uint4 v = make_uint4(0u, 0u, 0u, 0u);
            if (co0 + r < cout_pad) v = __ldg(reinterpret_cast<const uint4*>(w + std::size_t(co0 + r) * k_pad) + c);
            *reinterpret_cast<uint4*>(ws + r * ws_ld + c * 8) = v;
        }
    }

    const int wm = warp % 4, wn = warp / 4;
    // Output channels of this block and warp that are real (≤ 0: the warp has none and only joins the barriers).
    const int n_warp = min(cout_pad - co0, kCoutTile) - 32 * wn;
    // ldmatrix row addresses. A (tokens × k): lanes 0-15 rows 0-15 at k 0, lanes 16-31 rows 0-15 at k 8; a row is
    // a pixel of tile row 2·wm (tap offsets added below). B (k × n, stored n-major): lanes 0-7 n 0-7 at k 0,
    // 8-15 n 0-7 at k 8, 16-23 n 8-15 at k 0, 24-31 n 8-15 at k 8.
    const unsigned a_base = shared_address(halo + (2 * wm * kHaloW + lane % 16) * halo_ld + (lane / 16) * 8);
    const unsigned b_base =
        shared_address(ws + (32 * wn + lane % 8 + (lane / 16) * 8) * ws_ld + ((lane / 8) % 2) * 8);

    // This thread's output channels: co0 + 32·wn + 8·j + 2·(lane % 4), +1 for j < 4.
    const int n_lane = 32 * wn + 2 * (lane % 4);
    float2 b_lane[4];
#pragma unroll
    for (int j = 0; j < 4; ++j)
        b_lane[j] = n_lane + 8 * j < n_warp + 32 * wn
                        ? make_float2(bias[co0 + n_lane + 8 * j], bias[co0 + n_lane + 8 * j + 1])
                        : make_float2(0.0f, 0.0f);

    constexpr int octs = cin / 8;  // 16-byte chunks (8 halves) per pixel
    constexpr int halo_octs = kHaloPixels * octs;
    for (int tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
        const int ty = tile / tile_cols, tx = tile - ty * tile_cols;
        const int y0 = row0 + ty * kTileH, x0 = tx * kTileW;

        __syncthreads();  // the weights are staged (first tile), the previous tile's MMAs are done with the halo
        // Stage the halo: x − offset (rounded to float16) inside the image, 0 outside (im2col3x3's values).
        // offset = 0 (every conv of the network on this path) copies the float16 input unchanged.
        for (int base = tid; base < halo_octs; base += kThreads * kStageBatch) {
            uint4 v[kStageBatch];
            int dst[kStageBatch];  // the chunk's element offset in the halo, or −1 past the end
            bool inside[kStageBatch];
#pragma unroll
            for (int b = 0; b < kStageBatch; ++b) {
                const int i = base + b * kThreads;
                v[b] = make_uint4(0u, 0u, 0u, 0u);  // outside the image: float16 zeros
                dst[b] = -1;
                inside[b] = false;
                if (i < halo_octs) {
                    const int p = i / octs, q = i - p * octs;
                    const int hy = p / kHaloW, hx = p - hy * kHaloW;
                    const int gy = y0 - 1 + hy, gx = x0 - 1 + hx;
                    dst[b] = p * halo_ld + 8 * q;
                    inside[b] = gy >= 0 && gy < H && gx >= 0 && gx < W;
                    if (inside[b])
                        v[b] = __ldg(reinterpret_cast<const uint4*>(x + (std::int64_t(gy) * W + gx) * cin) + q);
                }
            }
#pragma unroll
            for (int b = 0; b < kStageBatch; ++b) {
                if (dst[b] < 0) continue;
                union {
                    uint4 u;
                    __half2 h[4];
                } packed;
                packed.u = v[b];
                if (inside[b] && offset != 0.0f) {
#pragma unroll
                    for (int k = 0; k < 4; ++k) {
                        const float2 f = __half22float2(packed.h[k]);
                        packed.h[k] = __floats2half2_rn(f.x - offset, f.y - offset);
                    }
                }
                *reinterpret_cast<uint4*>(halo + dst[b]) = packed.u;
            }
        }
        __syncthreads();

        float acc[2][4][4];
#pragma unroll
        for (int mi = 0; mi < 2; ++mi)
#pragma unroll
            for (int j = 0; j < 4; ++j)
#pragma unroll
                for (int e = 0; e < 4; ++e) acc[mi][j][e] = 0.0f;

        if (n_warp > 16) mma_taps<cin, 4>(acc, a_base, b_base);
        else if (n_warp > 0) mma_taps<cin, 2>(acc, a_base, b_base);  // channels past 16 are padding for this warp

        // Epilogue: acc row g (lane / 4) is pixel column g, row g + 8 column g + 8, of tile row 2·wm + mi.
        if (shuffle > 0) {
            // PixelShuffle_s + 0.5 into the (s·H, s·W, 3) image: channel c·s² + i·s + j of pixel (py, px) goes to
            // (py·s + i, px·s + j, c); channels ≥ 3·s² are padding. The tile's output (kTileH·s rows of
            // kTileW·s·3 floats, contiguous in the image) is first assembled in shared memory over the halo, then
            // written a row at a time with 16-byte stores (the whole image is one token range here: dispatch).
            const int s = shuffle, s2 = s * s, row_floats = kTileW * s * 3;
            float* out_tile = reinterpret_cast<float*>(halo);
            __syncthreads();  // every warp's MMAs are done with the halo
#pragma unroll
            for (int mi = 0; mi < 2; ++mi)
#pragma unroll
                for (int h = 0; h < 2; ++h)
#pragma unroll
                    for (int j = 0; j < 4; ++j)
#pragma unroll
                        for (int e = 0; e < 2; ++e) {
                            const int ch = co0 + n_lane + 8 * j + e;
                            if (ch >= 3 * s2) continue;
                            const int c = ch / s2, ij = ch - c * s2, i = ij / s, jj = ij - i * s;
                            const float bias_e = e == 0 ? b_lane[j].x : b_lane[j].y;
                            out_tile[((2 * wm + mi) * s + i) * row_floats + ((lane / 4 + 8 * h) * s + jj) * 3 + c] =
                                acc[mi][j][2 * h + e] + bias_e + 0.5f;
                        }
            __syncthreads();
            float* image = static_cast<float*>(y_out);
            const std::int64_t image_ld = std::int64_t(W) * s * 3;  // floats per image row
            const int valid = min(kTileW, W - x0) * s * 3;          // floats of a tile row inside the image
            const int rows = kTileH * s;
            // Image row y0·s + r, from column x0·s·3 (a multiple of 48·s floats, so 16-byte aligned when the rows are).
            float* dst0 = image + std::int64_t(y0) * s * image_ld + std::int64_t(x0) * s * 3;
            if (image_ld % 4 == 0) {
                const int quads = row_floats / 4;
                for (int k = tid; k < rows * quads; k += kThreads) {
                    const int r = k / quads, col = 4 * (k - r * quads);
                    if (y0 + r / s >= H || col >= valid) continue;
                    const float4 v = *reinterpret_cast<const float4*>(out_tile + r * row_floats + col);
                    float* dst = dst0 + r * image_ld + col;
                    if (col + 4 <= valid) {
                        *reinterpret_cast<float4*>(dst) = v;
                    } else {  // the image's right edge inside this quad (valid is a multiple of 3·s)
                        dst[0] = v.x;
                        if (col + 1 < valid) dst[1] = v.y;
                        if (col + 2 < valid) dst[2] = v.z;
                    }
                }
            } else {
                for (int k = tid; k < rows * row_floats; k += kThreads) {
                    const int r = k / row_floats, col = k - r * row_floats;
                    if (y0 + r / s >= H || col >= valid) continue;
                    dst0[r * image_ld + col] = out_tile[r * row_floats + col];
                }
            }
            continue;  // the barrier at the top of the loop keeps the next halo off out_tile until it is copied
        }
        // Every load of the existing output is issued before the first store.
        __half* y = static_cast<__half*>(y_out);
        __half* out[2][2];
#pragma unroll
        for (int mi = 0; mi < 2; ++mi)
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                const int px = x0 + lane / 4 + 8 * h;
                const std::int64_t t = std::int64_t(y0 + 2 * wm + mi) * W + px;
                // t < t_end ≤ H·W (with px < W) implies the row is inside the image.
                out[mi][h] = px < W && t >= t_begin && t < t_end ? y + (t - t_begin) * ldy + co0 + n_lane : nullptr;
            }
        float2 old[2][2][4];
#pragma unroll
        for (int mi = 0; mi < 2; ++mi)
#pragma unroll
            for (int h = 0; h < 2; ++h)
#pragma unroll
                for (int j = 0; j < 4; ++j) {
                    old[mi][h][j] = make_float2(0.0f, 0.0f);
                    if (accumulate && out[mi][h] && n_lane + 8 * j < n_warp + 32 * wn)
                        old[mi][h][j] = __half22float2(*reinterpret_cast<const __half2*>(out[mi][h] + 8 * j));
                }
#pragma unroll
        for (int mi = 0; mi < 2; ++mi)
#pragma unroll
            for (int h = 0; h < 2; ++h)
#pragma unroll
                for (int j = 0; j < 4; ++j) {
                    if (!out[mi][h] || n_lane + 8 * j >= n_warp + 32 * wn) continue;
                    *reinterpret_cast<__half2*>(out[mi][h] + 8 * j) =
                        __floats2half2_rn(acc[mi][j][2 * h] + b_lane[j].x + old[mi][h][j].x,
                                          acc[mi][j][2 * h + 1] + b_lane[j].y + old[mi][h][j].y);
                }
    }
}

// The kernel for one Cin: as many blocks as fit on the device at once (each stages the weights once), at most one
// per tile and cout slice.
template <int cin>
cudaError_t launch(const __half* x, int H, int W, float offset, int row0, int tile_cols, int tiles,
                   std::int64_t t_begin, std::int64_t t_end, const __half* w, int k_pad, const float* bias,
                   int cout_pad, void* y, std::int64_t ldy, bool accumulate, int shuffle, cudaStream_t stream) {
    const auto kernel = conv3x3_implicit_kernel<cin>;
    const std::size_t shared = shared_bytes(cin, shuffle);
    // The opt-in limit is a property of the function, set at capture time, not of a graph's launch: always the
    // largest any launch of this Cin asks for (s ≤ 4: dispatch), so a captured launch never exceeds a later setting.
    if (cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                             int(shared_bytes(cin, kMaxShuffle)));
        e != cudaSuccess)
        return e;
    int device = 0, sms = 0, per_sm = 0;
    if (cudaError_t e = cudaGetDevice(&device); e != cudaSuccess) return e;
    if (cudaError_t e = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device); e != cudaSuccess)
        return e;
    if (cudaError_t e = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kThreads, shared);
        e != cudaSuccess)
        return e;
    const int cout_blocks = int(div_up(cout_pad, kCoutTile));
    const int resident = std::max(1, sms * std::max(per_sm, 1) / cout_blocks);
    const dim3 grid(unsigned(std::min(tiles, resident)), unsigned(cout_blocks));
    kernel<<<grid, kThreads, shared, stream>>>(x, H, W, offset, row0, tile_cols, tiles, t_begin, t_end, w, k_pad, bias,
                                               cout_pad, y, ldy, accumulate, shuffle);
    return cudaGetLastError();
}

}  // namespace

namespace {

cudaError_t dispatch(const __half* x, int H, int W, int cin, float offset, std::int64_t t0, std::int64_t count,
                     const __half* w, int k_pad, const float* bias, int cout_pad, void* y, std::int64_t ldy,
                     bool accumulate, int shuffle, cudaStream_t stream) {
    if (!conv3x3_implicit_supported(cin) || k_pad != 9 * cin || cout_pad <= 0 || cout_pad % 2 != 0 || W <= 0 ||
        H <= 0 || t0 < 0 || count < 0 || t0 + count > std::int64_t(H) * W)
        return cudaErrorInvalidValue;
    // The shuffle epilogue writes whole tiles of the image from one channel block: the whole image, ≤ 64 channels.
    if (shuffle > 0 && (shuffle > kMaxShuffle || t0 != 0 || count != std::int64_t(H) * W || cout_pad > kCoutTile))
        return cudaErrorInvalidValue;
    if (count == 0) return cudaGetLastError();
    const std::int64_t row_first = t0 / W, row_last = (t0 + count - 1) / W;
    const std::int64_t tile_rows = div_up(row_last - row_first + 1, kTileH), tile_cols = div_up(W, kTileW);
    const std::int64_t tiles = tile_rows * tile_cols;
    if (tiles > 0x7fffffff || row_last > 0x7fffffff) return cudaErrorInvalidValue;
    const int r0 = int(row_first), tc = int(tile_cols), n = int(tiles);
    const std::int64_t t1 = t0 + count;
#define NALASR_CONV3X3_CASE(CIN) \
    case CIN:                    \
        return launch<CIN>(x, H, W, offset, r0, tc, n, t0, t1, w, k_pad, bias, cout_pad, y, ldy, accumulate, shuffle, stream);
    switch (cin) {
        NALASR_CONV3X3_CASE(16)
        NALASR_CONV3X3_CASE(32)
        NALASR_CONV3X3_CASE(48)
        NALASR_CONV3X3_CASE(64)
        NALASR_CONV3X3_CASE(80)
        NALASR_CONV3X3_CASE(96)
        NALASR_CONV3X3_CASE(112)
        NALASR_CONV3X3_CASE(128)
        default: return cudaErrorInvalidValue;
    }
#undef NALASR_CONV3X3_CASE
}

}  // namespace

cudaError_t conv3x3_implicit(const __half* x, int H, int W, int cin, float offset, std::int64_t t0,
                             std::int64_t count, const __half* w, int k_pad, const float* bias, int cout_pad,
                             __half* y, std::int64_t ldy, bool accumulate, cudaStream_t stream) {
    return dispatch(x, H, W, cin, offset, t0, count, w, k_pad, bias, cout_pad, y, ldy, accumulate, 0, stream);
}

cudaError_t conv3x3_implicit_shuffle(const __half* x, int H, int W, int cin, const __half* w, int k_pad,
                                     const float* bias, int cout_pad, int s, float* out, cudaStream_t stream) {
    if (s <= 0 || cout_pad < 3 * s * s) return cudaErrorInvalidValue;
    return dispatch(x, H, W, cin, 0.0f, 0, std::int64_t(H) * W, w, k_pad, bias, cout_pad, out, 0, false, s, stream);
}

}  // namespace nalasr::kernels
