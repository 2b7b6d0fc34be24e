#include "common.cuh"
#include "dwconv.cuh"
#include "tile.cuh"

namespace nalasr::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kFfnChannels = 128;  // channels of the FFN hidden map per block (blockIdx.z picks the run)
// Blocks per SM the register budget must allow, so enough warps are in flight to hide the staging's latency
// (cpe: by channel pairs per lane R).
constexpr int kFfnMinBlocks = 5;
template <int R>
constexpr int kCpeMinBlocks = R == 1 ? 5 : R == 2 ? 4 : R == 4 ? 3 : 2;

struct Gelu {
    __device__ float operator()(float v) const { return gelu_erf(v); }
};

// One tile per block; warp w owns tile column w (its kTileY tokens together, so each staged pixel and each
// weight is read once for all of them); lane l owns the channel pairs 2l + 64r, r < R.
template <int R>
__global__ void __launch_bounds__(kThreads, kCpeMinBlocks<R>)
    cpe_residual_layernorm_kernel(const __half* __restrict__ x, int H, int W, int C, const float* __restrict__ w,
                                  const float* __restrict__ bias, const float* __restrict__ gamma,
                                  const float* __restrict__ beta, float eps, __half* __restrict__ x_out,
                                  __half* __restrict__ normed, std::int64_t normed_ld) {
    static_assert(kWarps == kTileX, "a warp per tile column");
    extern __shared__ __align__(16) unsigned char shared_raw[];
    float* tile = reinterpret_cast<float*>(shared_raw);  // [pixel][C], halo 1
    constexpr int kCols = kTileX + 2;
    const int y0 = blockIdx.y * kTileY, x0 = blockIdx.x * kTileX;
    // 4 float16 quads in flight per thread (the default 8 spilled 28 bytes within 5 blocks/SM): with C ≤ 64 a tile
    // is at most 3.75 quads per thread, so still one round of loads.
    stage_tile<1, 4>(x, C, H, W, y0, x0, 0, C, tile, Identity{});
    __syncthreads();

    const int tx = threadIdx.x / 32, lane = threadIdx.x % 32, xx = x0 + tx;
    if (xx >= W) return;  // uniform over the warp; no barrier follows
    // v[r][ty]: x + cpe(x) of channel pair r for the column's token ty (zeros for channels ≥ C, so the sums
    // below see only real channels; tokens below the image are computed from the zero halo and not written).
    float2 v[R][kTileY];
    float sum[kTileY] = {};
#pragma unroll
    for (int r = 0; r < R; ++r) {
        const int c = 2 * lane + 64 * r;
#pragma unroll
        for (int ty = 0; ty < kTileY; ++ty) v[r][ty] = make_float2(0.0f, 0.0f);
        if (c >= C) continue;
        float2 taps[9];
        load_taps<3>(w, C, c, taps);
        const float2 b = load2(bias + c);
#pragma unroll
        for (int ty = 0; ty < kTileY; ++ty) {
            const float2 center = load2(tile + ((ty + 1) * kCols + tx + 1) * C + c);
            v[r][ty] = make_float2(center.x + b.x, center.y + b.y);
        }
        column_taps<3>(tile, C, tx, c, taps, v[r]);
#pragma unroll
        for (int ty = 0; ty < kTileY; ++ty) sum[ty] += v[r][ty].x + v[r][ty].y;
    }
    float mean[kTileY], rstd[kTileY];
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
#pragma unroll
    for (int r = 0; r < R; ++r) {
        const int c = 2 * lane + 64 * r;
        if (c >= C) continue;
        const float2 g = load2(gamma + c), bt = load2(beta + c);
#pragma unroll
        for (int ty = 0; ty < kTileY; ++ty) {
            const int y = y0 + ty;
            if (y >= H) break;
            const std::int64_t t = std::int64_t(y) * W + xx;
            *reinterpret_cast<__half2*>(x_out + t * C + c) = __floats2half2_rn(v[r][ty].x, v[r][ty].y);
            const float n0 = (v[r][ty].x - mean[ty]) * rstd[ty] * g.x + bt.x;
            const float n1 = (v[r][ty].y - mean[ty]) * rstd[ty] * g.y + bt.y;
            *reinterpret_cast<__half2*>(normed + t * normed_ld + c) = __floats2half2_rn(n0, n1);
        }
    }
}

// One tile and up to kFfnChannels channels per block; GELU is applied once per element while staging. Thread i
// owns the channel pair i mod kFfnPairs (its 9 weights stay in registers) and the tile columns
// i / kFfnPairs + k·kFfnColumnStep, each a column of kTileY tokens.
constexpr int kFfnPairs = kFfnChannels / 2;
constexpr int kFfnColumnStep = kThreads / kFfnPairs;

__global__ void __launch_bounds__(kThreads, kFfnMinBlocks)
    ffn_gelu_dwconv_kernel(const __half* __restrict__ t_map, std::int64_t t_ld, int H, int W, int Ch,
                           const float* __restrict__ w, const float* __restrict__ bias, __half* __restrict__ out,
                           std::int64_t out_ld) {
    __shared__ __align__(16) float tile[tile_pixels(1) * kFfnChannels];  // [pixel][cw], halo 1
    constexpr int kCols = kTileX + 2;
    const int y0 = blockIdx.y * kTileY, x0 = blockIdx.x * kTileX;
    const int c0 = blockIdx.z * kFfnChannels, cw = min(kFfnChannels, Ch - c0);
    stage_tile<1>(t_map, t_ld, H, W, y0, x0, c0, cw, tile, Gelu{});
    __syncthreads();

    const int c = 2 * (threadIdx.x % kFfnPairs), gc = c0 + c;
    if (c >= cw) return;  // no barrier follows
    float2 taps[9];
    load_taps<3>(w, Ch, gc, taps);
    const float2 b = load2(bias + gc);
    for (int tx = threadIdx.x / kFfnPairs; tx < kTileX && x0 + tx < W; tx += kFfnColumnStep) {
        float2 acc[kTileY];
#pragma unroll
        for (int ty = 0; ty < kTileY; ++ty) {
            const float2 center = load2(tile + ((ty + 1) * kCols + tx + 1) * cw + c);
            acc[ty] = make_float2(center.x + b.x, center.y + b.y);
        }
        column_taps<3>(tile, cw, tx, c, taps, acc);
#pragma unroll
        for (int ty = 0; ty < kTileY; ++ty) {
            const int y = y0 + ty;
            if (y >= H) break;
            *reinterpret_cast<__half2*>(out + (std::int64_t(y) * W + x0 + tx) * out_ld + gc) =
                __floats2half2_rn(acc[ty].x, acc[ty].y);
        }
    }
}

dim3 tile_grid(int H, int W, int channel_runs = 1) {
    return dim3(unsigned(div_up(W, kTileX)), unsigned(div_up(H, kTileY)), unsigned(channel_runs));
}

template <int R>
cudaError_t launch_cpe(const __half* x, int H, int W, int C, const float* w, const float* bias, const float* gamma,
                       const float* beta, float eps, __half* x_out, __half* normed, std::int64_t normed_ld,
                       cudaStream_t stream) {
    const std::size_t shared = std::size_t(tile_pixels(1)) * C * sizeof(float);
    if (cudaError_t e = allow_shared_memory(cpe_residual_layernorm_kernel<R>, shared); e != cudaSuccess) return e;
    cpe_residual_layernorm_kernel<R><<<tile_grid(H, W), kThreads, shared, stream>>>(x, H, W, C, w, bias, gamma, beta,
                                                                                      eps, x_out, normed, normed_ld);
    return cudaGetLastError();
}

}  // namespace

cudaError_t cpe_residual_layernorm(const __half* x, int H, int W, int C, const float* w, const float* bias,
                                   const float* gamma, const float* beta, float eps, __half* x_out, __half* normed,
                                   std::int64_t normed_ld, cudaStream_t stream) {
    if (C % 4 != 0 || C > kMaxLayerNormChannels) return cudaErrorInvalidValue;
    if (H == 0 || W == 0) return cudaGetLastError();
    if (C <= 64) return launch_cpe<1>(x, H, W, C, w, bias, gamma, beta, eps, x_out, normed, normed_ld, stream);
    if (C <= 128) return launch_cpe<2>(x, H, W, C, w, bias, gamma, beta, eps, x_out, normed, normed_ld, stream);
    if (C <= 256) return launch_cpe<4>(x, H, W, C, w, bias, gamma, beta, eps, x_out, normed, normed_ld, stream);
    return launch_cpe<8>(x, H, W, C, w, bias, gamma, beta, eps, x_out, normed, normed_ld, stream);
}

cudaError_t ffn_gelu_dwconv(const __half* t, std::int64_t t_ld, int H, int W, int Ch, const float* w,
                            const float* bias, __half* out, std::int64_t out_ld, cudaStream_t stream) {
    if (Ch % 4 != 0 || t_ld % 4 != 0) return cudaErrorInvalidValue;
    if (H == 0 || W == 0) return cudaGetLastError();
    ffn_gelu_dwconv_kernel<<<tile_grid(H, W, int(div_up(Ch, kFfnChannels))), kThreads, 0, stream>>>(
        t, t_ld, H, W, Ch, w, bias, out, out_ld);
    return cudaGetLastError();
}

}  // namespace nalasr::kernels
