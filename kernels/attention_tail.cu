#include "attention_tail.cuh"
#include "common.cuh"
#include "dwconv.cuh"
#include "tile.cuh"

namespace nalasr::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;

enum class Tail { Nala, Pola };

// Blocks per SM the register budget must allow, so enough warps are in flight to hide the staging's latency.
template <int R>
constexpr int kMinBlocks = R == 1 ? 3 : R <= 4 ? 2 : 1;

// One tile per block, v staged as float32 with a halo of 2; warp w owns tile column w (its kTileY tokens
// together, so each staged pixel and each weight is read once for all of them); lane l owns the channel pairs
// 2l + 64r, r < R. Pola's filters are shared by the heads: channel c uses filter c mod d. Weights are tap-major
// (25, nf) with nf = C (NaLa) or d (Pola). The column's o and g are loaded before the tile is staged, so their
// latency overlaps the staging's.
template <int R, Tail K>
__global__ void __launch_bounds__(kThreads, kMinBlocks<R>)
    tail_kernel(__half* __restrict__ qkvg, std::int64_t ld, int H, int W, int C, int d,
                const float* __restrict__ lepe_w, const float* __restrict__ lepe_b, const float* __restrict__ gamma,
                const float* __restrict__ beta, float eps) {
    static_assert(kWarps == kTileX, "a warp per tile column");
    extern __shared__ __align__(16) unsigned char shared_raw[];
    float* tile = reinterpret_cast<float*>(shared_raw);  // v: [pixel][C], halo 2
    const int y0 = blockIdx.y * kTileY, x0 = blockIdx.x * kTileX;
    const int tx = threadIdx.x / 32, lane = threadIdx.x % 32, xx = x0 + tx;
    // Rows of the column's tokens; a token outside the image gets a null row (computed, never read or written).
    __half* rows[kTileY];
#pragma unroll
    for (int ty = 0; ty < kTileY; ++ty)
        rows[ty] = y0 + ty < H && xx < W ? qkvg + (std::int64_t(y0 + ty) * W + xx) * ld : nullptr;
    __half2 o[R][kTileY], g[R][kTileY];
#pragma unroll
    for (int r = 0; r < R; ++r) {
        const int c = 2 * lane + 64 * r;
#pragma unroll
        for (int ty = 0; ty < kTileY; ++ty) {
            const bool load = rows[ty] && c < C;
            o[r][ty] = load ? *reinterpret_cast<const __half2*>(rows[ty] + c) : __float2half2_rn(0.0f);
            g[r][ty] = load ? *reinterpret_cast<const __half2*>(rows[ty] + 3 * C + c) : __float2half2_rn(0.0f);
        }
    }
    stage_tile<2>(qkvg, ld, H, W, y0, x0, 2 * C, C, tile, Identity{});
    __syncthreads();

    if (xx >= W) return;  // uniform over the warp; no barrier follows
    const int filters = K == Tail::Pola ? d : C;
    // v[r][ty]: o + lepe(v) of channel pair r for token ty (zeros for channels ≥ C).
    float2 v[R][kTileY];
    float sum[kTileY] = {};
#pragma unroll
    for (int r = 0; r < R; ++r) {
        const int c = 2 * lane + 64 * r;
#pragma unroll
        for (int ty = 0; ty < kTileY; ++ty) v[r][ty] = make_float2(0.0f, 0.0f);
        if (c >= C) continue;
        const int f = K == Tail::Pola ? c % d : c;
        float2 taps[25];
        load_taps<5>(lepe_w, filters, f, taps);
        const float2 b = load2(lepe_b + f);
#pragma unroll
        for (int ty = 0; ty < kTileY; ++ty) {
            const float2 of = __half22float2(o[r][ty]);
            v[r][ty] = make_float2(of.x + b.x, of.y + b.y);
        }
        column_taps<5>(tile, C, tx, c, taps, v[r]);
#pragma unroll
        for (int ty = 0; ty < kTileY; ++ty) sum[ty] += v[r][ty].x + v[r][ty].y;
    }
    float mean[kTileY] = {}, rstd[kTileY];
#pragma unroll
    for (int ty = 0; ty < kTileY; ++ty) rstd[ty] = 1.0f;
    if constexpr (K == Tail::Nala) {
#pragma unroll
        for (int ty = 0; ty < kTileY; ++ty) mean[ty] = warp_sum(sum[ty]) / C;
#pragma unroll
        for (int ty = 0; ty < kTileY; ++ty) {
            float sq = 0.0f;
#pragma unroll
            for (int r = 0; r < R; ++r) {
                if (2 * lane + 64 * r >= C) continue;
                const float d0 = v[r][ty].x - mean[ty], d1 = v[r][ty].y - mean[ty];
                sq += d0 * d0 + d1 * d1;
            }
            rstd[ty] = sq;
        }
#pragma unroll
        for (int ty = 0; ty < kTileY; ++ty) rstd[ty] = rsqrtf(warp_sum(rstd[ty]) / C + eps);
    }
#pragma unroll
    for (int r = 0; r < R; ++r) {
        const int c = 2 * lane + 64 * r;
        if (c >= C) continue;
        float2 gm = make_float2(1.0f, 1.0f), bt = make_float2(0.0f, 0.0f);
        if constexpr (K == Tail::Nala) gm = load2(gamma + c), bt = load2(beta + c);
#pragma unroll
        for (int ty = 0; ty < kTileY; ++ty) {
            if (!rows[ty]) break;  // the tokens below the image come last
            const float2 gf = __half22float2(g[r][ty]);
            float u0, u1;
            if constexpr (K == Tail::Nala) {
                u0 = ((v[r][ty].x - mean[ty]) * rstd[ty] * gm.x + bt.x) * silu(gf.x);
                u1 = ((v[r][ty].y - mean[ty]) * rstd[ty] * gm.y + bt.y) * silu(gf.y);
            } else {
                u0 = v[r][ty].x * gf.x;
                u1 = v[r][ty].y * gf.y;
            }
            *reinterpret_cast<__half2*>(rows[ty] + C + c) = __floats2half2_rn(u0, u1);
        }
    }
}

template <int R, Tail K>
cudaError_t launch(__half* qkvg, std::int64_t ld, int H, int W, int C, int d, const float* lepe_w,
                   const float* lepe_b, const float* gamma, const float* beta, float eps, cudaStream_t stream) {
    const std::size_t shared = std::size_t(tile_pixels(2)) * C * sizeof(float);
    if (cudaError_t e = allow_shared_memory(tail_kernel<R, K>, shared); e != cudaSuccess) return e;
    const dim3 grid(unsigned(div_up(W, kTileX)), unsigned(div_up(H, kTileY)));
    tail_kernel<R, K><<<grid, kThreads, shared, stream>>>(qkvg, ld, H, W, C, d, lepe_w, lepe_b, gamma, beta, eps);
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
