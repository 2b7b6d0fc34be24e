#include "attention_tail.cuh"
#include "common.cuh"
#include "dwconv.cuh"
#include "tile.cuh"

namespace nalasr::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;

enum class Tail { Nala, Pola };

// One tile per block, v staged with a halo of 2; warp w takes the tile's tokens w, w + 8, …; lane l owns the
// channel pairs 2l + 64r, r < R. Pola's filters are shared by the heads: channel c uses filter c mod d.
template <int R, Tail K>
__global__ void __launch_bounds__(kThreads)
    tail_kernel(__half* __restrict__ qkvg, std::int64_t ld, int H, int W, int C, int d,
                const float* __restrict__ lepe_w, const float* __restrict__ lepe_b, const float* __restrict__ gamma,
                const float* __restrict__ beta, float eps) {
    extern __shared__ __align__(16) unsigned char shared_raw[];
    __half* tile = reinterpret_cast<__half*>(shared_raw);  // v: [pixel][C], halo 2
    constexpr int kCols = kTileX + 4;
    const int y0 = blockIdx.y * kTileY, x0 = blockIdx.x * kTileX;
    stage_tile(qkvg, ld, H, W, y0, x0, 2, 2 * C, C, tile, Identity{});
    __syncthreads();

    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    for (int k = warp; k < kTileTokens; k += kWarps) {
        const int ty = k / kTileX, tx = k % kTileX, y = y0 + ty, xx = x0 + tx;
        if (y >= H || xx >= W) continue;  // uniform over the warp
        __half* row = qkvg + (std::int64_t(y) * W + xx) * ld;
        float v[2 * R];
        float sum = 0.0f;
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const int c = 2 * lane + 64 * r;
            v[2 * r] = v[2 * r + 1] = 0.0f;
            if (c >= C) continue;
            const int f = K == Tail::Pola ? c % d : c;
            const float2 o = __half22float2(*reinterpret_cast<const __half2*>(row + c));
            float a0 = o.x + lepe_b[f], a1 = o.y + lepe_b[f + 1];
#pragma unroll
            for (int tap = 0; tap < 25; ++tap) {
                const float2 nb = __half22float2(
                    *reinterpret_cast<const __half2*>(tile + ((ty + tap / 5) * kCols + tx + tap % 5) * C + c));
                a0 += lepe_w[f * 25 + tap] * nb.x;
                a1 += lepe_w[(f + 1) * 25 + tap] * nb.y;
            }
            v[2 * r] = a0;
            v[2 * r + 1] = a1;
            sum += a0 + a1;
        }
        float mean = 0.0f, rstd = 1.0f;
        if constexpr (K == Tail::Nala) {
            mean = warp_sum(sum) / C;
            float sq = 0.0f;
#pragma unroll
            for (int r = 0; r < R; ++r) {
                if (2 * lane + 64 * r >= C) continue;
                const float d0 = v[2 * r] - mean, d1 = v[2 * r + 1] - mean;
                sq += d0 * d0 + d1 * d1;
            }
            rstd = rsqrtf(warp_sum(sq) / C + eps);
        }
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const int c = 2 * lane + 64 * r;
            if (c >= C) continue;
            const float2 g = __half22float2(*reinterpret_cast<const __half2*>(row + 3 * C + c));
            float u0, u1;
            if constexpr (K == Tail::Nala) {
                u0 = ((v[2 * r] - mean) * rstd * gamma[c] + beta[c]) * silu(g.x);
                u1 = ((v[2 * r + 1] - mean) * rstd * gamma[c + 1] + beta[c + 1]) * silu(g.y);
            } else {
                u0 = v[2 * r] * g.x;
                u1 = v[2 * r + 1] * g.y;
            }
            *reinterpret_cast<__half2*>(row + C + c) = __floats2half2_rn(u0, u1);
        }
    }
}

template <int R, Tail K>
cudaError_t launch(__half* qkvg, std::int64_t ld, int H, int W, int C, int d, const float* lepe_w,
                   const float* lepe_b, const float* gamma, const float* beta, float eps, cudaStream_t stream) {
    const std::size_t shared = std::size_t(tile_pixels(2)) * C * sizeof(__half);
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
