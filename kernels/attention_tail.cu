#include "attention_tail.cuh"
#include "common.cuh"
#include "dwconv.cuh"
#include "tile.cuh"

namespace nalasr::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int kCols = 8;                       // tile columns: warp w owns column w
constexpr int kHalo = 2;                       // lepe is 5×5
constexpr int kHaloCols = kCols + 2 * kHalo;   // 12
constexpr int kTaps = 25;
constexpr int kStagers = kHaloCols * 16;       // 192 threads stage v: (halo column, quad of a 64-channel run)
static_assert(kThreads / 32 == kCols && kStagers < kThreads, "a warp per column; spare threads stage the weights");

enum class Tail { Nala, Pola };

// Tile rows: 8 (12×12 staged per 64 tokens) while the tile fits in shared memory with 2+ blocks per SM, else 2.
template <int R>
constexpr int kRows = R <= 2 ? 8 : 2;
template <int R>
constexpr int kHaloRows = kRows<R> + 2 * kHalo;
// Blocks per SM the register budget must allow (R = 1: 64 registers, 4 blocks; shared memory allows 5).
template <int R>
constexpr int kMinBlocks = R == 1 ? 4 : R <= 4 ? 2 : 1;
// Shared memory: the v tile (kHaloRows × kHaloCols pixels) and the lepe taps plus bias (26 rows), each row 64R
// floats (channels padded to the lanes' layout, so every shared-memory offset is a compile-time constant).
template <int R>
constexpr std::size_t kSharedBytes = std::size_t(kHaloRows<R> * kHaloCols + kTaps + 1) * 64 * R * sizeof(float);

// Shared-memory position of channel c: in each run of 64 channels the even channels first, then the odd ones, so
// lane l's pair (2l, 2l + 1) sits at l and 32 + l and a warp reads one channel of its pairs as 32 consecutive words.
__device__ inline int slot(int c) { return (c & ~63) + (c & 1) * 32 + ((c & 63) >> 1); }

// lepe of one channel for kRows tokens of a column: acc[ty] += bias + Σ w[dy·5 + dx] · tile[ty + dy][dx].
// `tile` points at the column's first halo pixel, `taps` at the channel's weight column (stride kC floats).
// Each staged pixel is read once and feeds the (up to 5) tokens it reaches.
template <int kRowsT, int kC>
__device__ inline void column_lepe(const float* __restrict__ tile, const float* __restrict__ taps,
                                   float (&acc)[kRowsT]) {
    float w[kTaps];
#pragma unroll
    for (int tap = 0; tap < kTaps; ++tap) w[tap] = taps[tap * kC];
    const float bias = taps[kTaps * kC];
#pragma unroll
    for (int ty = 0; ty < kRowsT; ++ty) acc[ty] += bias;
#pragma unroll
    for (int row = 0; row < kRowsT + 2 * kHalo; ++row)
#pragma unroll
        for (int dx = 0; dx < 5; ++dx) {
            const float x = tile[(row * kHaloCols + dx) * kC];
#pragma unroll
            for (int ty = 0; ty < kRowsT; ++ty) {
                const int dy = row - ty;
                if (dy < 0 || dy >= 5) continue;  // resolved at compile time
                acc[ty] = fmaf(w[dy * 5 + dx], x, acc[ty]);
            }
        }
}

// Channel pairs 2·lane + 64r (r < R) of kRowsT tokens of a column, `row_stride` apart from `column` (zeros for rows
// at or past H and for channels ≥ C).
template <int R, int kRowsT>
__device__ inline void load_column_pairs(const __half* __restrict__ column, std::int64_t row_stride, int rows_left,
                                         int lane, int C, __half2 (&out)[R][kRowsT]) {
#pragma unroll
    for (int ty = 0; ty < kRowsT; ++ty, column += row_stride)
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const int c = 2 * lane + 64 * r;
            out[r][ty] = ty < rows_left && c < C ? *reinterpret_cast<const __half2*>(column + c)
                                                 : __float2half2_rn(0.0f);
        }
}

// One tile of kRows × 8 tokens per block. Threads below kStagers copy v of the tile plus a halo of 2 (zeros
// outside the image) into shared memory as float32, the others the lepe taps and bias (Pola's filters are shared
// by the heads: channel c uses filter c mod d). Warp w then owns tile column w (its kRows tokens together); lane l
// owns the channel pairs 2l + 64r, r < R, and computes lepe one channel at a time (25 taps in registers). o and g
// are loaded ahead of their use (o before the convolution, g before the LayerNorm's reductions), not before the
// staging: at R = 1 that keeps the kernel within 64 registers (4 blocks per SM) without spilling.
template <int R, Tail K>
__global__ void __launch_bounds__(kThreads, kMinBlocks<R>)
    tail_kernel(__half* __restrict__ qkvg, std::int64_t ld, int H, int W, int C, int d,
                const float* __restrict__ lepe_w, const float* __restrict__ lepe_b, const float* __restrict__ gamma,
                const float* __restrict__ beta, float eps) {
    constexpr int kC = 64 * R, kR = kRows<R>, kHR = kHaloRows<R>;
    extern __shared__ __align__(16) unsigned char shared_raw[];
    float* tile = reinterpret_cast<float*>(shared_raw);  // [halo pixel][kC]
    float* taps = tile + kHR * kHaloCols * kC;           // [tap][kC], row kTaps the bias
    const int y0 = blockIdx.y * kR, x0 = blockIdx.x * kCols;
    const int tx = threadIdx.x / 32, lane = threadIdx.x % 32, xx = x0 + tx;

    const std::int64_t row_stride = std::int64_t(W) * ld;  // elements from a pixel to the one below it
    if (threadIdx.x < kStagers) {
        // This thread copies quad q (channels 64r + 4q … + 3, all real or all padding: C is a multiple of 4) of
        // halo column hx, every halo row, for each run r; the loads of kBatchRuns runs are issued before any store.
        const int q = threadIdx.x % 16, hx = threadIdx.x / 16, gx = x0 - kHalo + hx;
        const bool column_inside = gx >= 0 && gx < W;
        const std::int64_t top = (std::int64_t(y0 - kHalo) * W + gx) * ld + 2 * C + 4 * q;  // halo row 0, run 0
        constexpr int kBatchRuns = 12 / kHR;
        static_assert(R % kBatchRuns == 0, "whole batches");
#pragma unroll
        for (int r0 = 0; r0 < R; r0 += kBatchRuns) {
            uint2 raw[kBatchRuns][kHR];
#pragma unroll
            for (int b = 0; b < kBatchRuns; ++b) {
                const int c = 64 * (r0 + b) + 4 * q;
                std::int64_t offset = top + 64 * (r0 + b);
#pragma unroll
                for (int hy = 0; hy < kHR; ++hy, offset += row_stride) {
                    const int gy = y0 - kHalo + hy;
                    raw[b][hy] = make_uint2(0u, 0u);  // float16 zeros: the convolution's padding
                    if (column_inside && gy >= 0 && gy < H && c < C)
                        raw[b][hy] = *reinterpret_cast<const uint2*>(qkvg + offset);
                }
            }
#pragma unroll
            for (int b = 0; b < kBatchRuns; ++b) {
                const int r = r0 + b;
                if (64 * r + 4 * q >= C) continue;  // padding channels are never read
#pragma unroll
                for (int hy = 0; hy < kHR; ++hy) {
                    const float4 v = to_float4(raw[b][hy]);
                    // Channels 64r + 4q + {0, 2} go to slots 64r + 2q + {0, 1}; channels + {1, 3} to those + 32.
                    float* p = tile + (hy * kHaloCols + hx) * kC + 64 * r + 2 * q;
                    *reinterpret_cast<float2*>(p) = make_float2(v.x, v.z);
                    *reinterpret_cast<float2*>(p + 32) = make_float2(v.y, v.w);
                }
            }
        }
    } else {
        const int filters = K == Tail::Pola ? d : C;
        for (int c = threadIdx.x - kStagers; c < kC; c += kThreads - kStagers) {
            const bool real = c < C;
            const int f = K == Tail::Pola ? c % d : c, s = slot(c);
#pragma unroll
            for (int tap = 0; tap < kTaps; ++tap) taps[tap * kC + s] = real ? lepe_w[tap * filters + f] : 0.0f;
            taps[kTaps * kC + s] = real ? lepe_b[f] : 0.0f;
        }
    }
    __syncthreads();

    if (xx >= W) return;  // uniform over the warp; no barrier follows
    // The column's tokens, row_stride apart (token ty is read or written only if y0 + ty < H).
    const std::int64_t first = (std::int64_t(y0) * W + xx) * ld;
    __half2 o[R][kR];
    load_column_pairs<R, kR>(qkvg + first, row_stride, H - y0, lane, C, o);
    // v[r][ty]: o + lepe(v) of channel pair r for token ty (zeros for channels ≥ C).
    float2 v[R][kR];
    float sum[kR] = {};
#pragma unroll
    for (int r = 0; r < R; ++r) {
#pragma unroll
        for (int ty = 0; ty < kR; ++ty) v[r][ty] = make_float2(0.0f, 0.0f);
        if (2 * lane + 64 * r >= C) continue;
        const float* column = tile + tx * kC + 64 * r + lane;
        const float* weights = taps + 64 * r + lane;
        // Channel 2l, then 2l + 1, each accumulated onto its half of o.
        float even[kR], odd[kR];
#pragma unroll
        for (int ty = 0; ty < kR; ++ty) even[ty] = __low2float(o[r][ty]);
        column_lepe<kR, kC>(column, weights, even);
#pragma unroll
        for (int ty = 0; ty < kR; ++ty) odd[ty] = __high2float(o[r][ty]);
        column_lepe<kR, kC>(column + 32, weights + 32, odd);
#pragma unroll
        for (int ty = 0; ty < kR; ++ty) {
            v[r][ty] = make_float2(even[ty], odd[ty]);
            sum[ty] += even[ty] + odd[ty];
        }
    }
    __half2 g[R][kR];
    load_column_pairs<R, kR>(qkvg + first + 3 * C, row_stride, H - y0, lane, C, g);
    if constexpr (K == Tail::Nala) {  // LayerNorm over the warp's C channels, v normalised in place
        float mean[kR], sq[kR];
#pragma unroll
        for (int ty = 0; ty < kR; ++ty) mean[ty] = warp_sum(sum[ty]) / C;
#pragma unroll
        for (int ty = 0; ty < kR; ++ty) {
            sq[ty] = 0.0f;
#pragma unroll
            for (int r = 0; r < R; ++r) {
                if (2 * lane + 64 * r >= C) continue;
                const float d0 = v[r][ty].x - mean[ty], d1 = v[r][ty].y - mean[ty];
                sq[ty] += d0 * d0 + d1 * d1;
            }
        }
#pragma unroll
        for (int ty = 0; ty < kR; ++ty) {
            const float rstd = rsqrtf(warp_sum(sq[ty]) / C + eps);
#pragma unroll
            for (int r = 0; r < R; ++r)
                v[r][ty] = make_float2((v[r][ty].x - mean[ty]) * rstd, (v[r][ty].y - mean[ty]) * rstd);
        }
    }
    float2 gm[R], bt[R];  // the LayerNorm's affine (Pola: none)
#pragma unroll
    for (int r = 0; r < R; ++r) {
        const int c = 2 * lane + 64 * r;
        gm[r] = make_float2(1.0f, 1.0f), bt[r] = make_float2(0.0f, 0.0f);
        if (K == Tail::Nala && c < C) gm[r] = load2(gamma + c), bt[r] = load2(beta + c);
    }
    std::int64_t offset = first + C;
#pragma unroll
    for (int ty = 0; ty < kR; ++ty, offset += row_stride) {
        if (y0 + ty >= H) break;  // the tokens below the image come last
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const int c = 2 * lane + 64 * r;
            if (c >= C) continue;
            const float2 gf = __half22float2(g[r][ty]);
            float u0, u1;
            if constexpr (K == Tail::Nala) {
                u0 = (v[r][ty].x * gm[r].x + bt[r].x) * silu(gf.x);
                u1 = (v[r][ty].y * gm[r].y + bt[r].y) * silu(gf.y);
            } else {
                u0 = v[r][ty].x * gf.x;
                u1 = v[r][ty].y * gf.y;
            }
            *reinterpret_cast<__half2*>(qkvg + offset + c) = __floats2half2_rn(u0, u1);
        }
    }
}

template <int R, Tail K>
cudaError_t launch(__half* qkvg, std::int64_t ld, int H, int W, int C, int d, const float* lepe_w,
                   const float* lepe_b, const float* gamma, const float* beta, float eps, cudaStream_t stream) {
    if (cudaError_t e = allow_shared_memory(tail_kernel<R, K>, kSharedBytes<R>); e != cudaSuccess) return e;
    const dim3 grid(unsigned(div_up(W, kCols)), unsigned(div_up(H, kRows<R>)));
    tail_kernel<R, K><<<grid, kThreads, kSharedBytes<R>, stream>>>(qkvg, ld, H, W, C, d, lepe_w, lepe_b, gamma, beta,
                                                                   eps);
    return cudaGetLastError();
}

template <Tail K>
cudaError_t dispatch(__half* qkvg, std::int64_t ld, int H, int W, int C, int d, const float* lepe_w,
                     const float* lepe_b, const float* gamma, const float* beta, float eps, cudaStream_t stream) {
    // v is staged 4 channels at a time from column 2C of rows ld apart.
    if (C % 4 != 0 || C > kMaxLayerNormChannels || ld % 4 != 0) return cudaErrorInvalidValue;
    if (H == 0 || W == 0) return cudaGetLastError();
    if (C <= 64) return launch<1, K>(qkvg, ld, H, W, C, d, lepe_w, lepe_b, gamma, beta, eps, stream);
    if (C <= 128) return launch<2, K>(qkvg, ld, H, W, C, d, lepe_w, lepe_b, gamma, beta, eps, stream);
    if (C <= 256) return launch<4, K>(qkvg, ld, H, W, C, d, lepe_w, lepe_b, gamma, beta, eps, stream);
    return launch<8, K>(qkvg, ld, H, W, C, d, lepe_w, lepe_b, gamma, beta, eps, stream);
}

}  // namespace

cudaError_t nala_attention_tail(__half* qkvg, std::int64_t ld, int H, int W, int C, const float* lepe_w,
                                const float* lepe_b, const float* gamma, const float* beta, float eps,
                                cudaStream_t stream) {
    return dispatch<Tail::Nala>(qkvg, ld, H, W, C, C, lepe_w, lepe_b, gamma, beta, eps, stream);
}

cudaError_t pola_attention_tail(__half* qkvg, std::int64_t ld, int H, int W, int C, int d, const float* lepe_w,
                                const float* lepe_b, cudaStream_t stream) {
    if (d % 2 != 0 || C % d != 0) return cudaErrorInvalidValue;
    return dispatch<Tail::Pola>(qkvg, ld, H, W, C, d, lepe_w, lepe_b, nullptr, nullptr, 0.0f, stream);
}

}  // namespace nalasr::kernels
