#include "common.cuh"
#include "dwconv.cuh"
#include "tile.cuh"

namespace nalasr::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kFfnChannels = 128;  // channels of the FFN hidden map per block (blockIdx.z picks the run)

struct Gelu {
    __device__ float operator()(float v) const { return gelu_erf(v); }
};

// One tile per block; warp w takes the tile's tokens w, w + 8, …; lane l owns the channel pairs 2l + 64r, r < R.
template <int R>
__global__ void __launch_bounds__(kThreads)
    cpe_residual_layernorm_kernel(const float* __restrict__ x, int H, int W, int C, const float* __restrict__ w,
                                  const float* __restrict__ bias, const float* __restrict__ gamma,
                                  const float* __restrict__ beta, float eps, float* __restrict__ x_out,
                                  __half* __restrict__ normed, std::int64_t normed_ld) {
    extern __shared__ __align__(16) unsigned char shared_raw[];
    float* tile = reinterpret_cast<float*>(shared_raw);  // [pixel][C], halo 1
    constexpr int kCols = kTileX + 2;
    const int y0 = blockIdx.y * kTileY, x0 = blockIdx.x * kTileX;
    stage_tile(x, C, H, W, y0, x0, 1, 0, C, tile, Identity{});
    __syncthreads();

    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    for (int k = warp; k < kTileTokens; k += kWarps) {
        const int ty = k / kTileX, tx = k % kTileX, y = y0 + ty, xx = x0 + tx;
        if (y >= H || xx >= W) continue;  // uniform over the warp
        const std::int64_t t = std::int64_t(y) * W + xx;
        float v[2 * R];
        float sum = 0.0f;
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const int c = 2 * lane + 64 * r;
            v[2 * r] = v[2 * r + 1] = 0.0f;
            if (c >= C) continue;
            const float2 center = *reinterpret_cast<const float2*>(tile + ((ty + 1) * kCols + tx + 1) * C + c);
            float a0 = center.x + bias[c], a1 = center.y + bias[c + 1];
#pragma unroll
            for (int tap = 0; tap < 9; ++tap) {
                const float2 nb =
                    *reinterpret_cast<const float2*>(tile + ((ty + tap / 3) * kCols + tx + tap % 3) * C + c);
                a0 += w[c * 9 + tap] * nb.x;
                a1 += w[(c + 1) * 9 + tap] * nb.y;
            }
            *reinterpret_cast<float2*>(x_out + t * C + c) = make_float2(a0, a1);
            v[2 * r] = a0;
            v[2 * r + 1] = a1;
            sum += a0 + a1;
        }
        const float mean = warp_sum(sum) / C;
        float sq = 0.0f;
#pragma unroll
        for (int r = 0; r < R; ++r) {
            if (2 * lane + 64 * r >= C) continue;
            const float d0 = v[2 * r] - mean, d1 = v[2 * r + 1] - mean;
            sq += d0 * d0 + d1 * d1;
        }
        const float rstd = rsqrtf(warp_sum(sq) / C + eps);
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const int c = 2 * lane + 64 * r;
            if (c >= C) continue;
            const float n0 = (v[2 * r] - mean) * rstd * gamma[c] + beta[c];
            const float n1 = (v[2 * r + 1] - mean) * rstd * gamma[c + 1] + beta[c + 1];
            *reinterpret_cast<__half2*>(normed + t * normed_ld + c) = __floats2half2_rn(n0, n1);
        }
    }
}

// One tile and up to kFfnChannels channels per block; GELU is applied once per element while staging.
__global__ void __launch_bounds__(kThreads)
    ffn_gelu_dwconv_kernel(const __half* __restrict__ t_map, std::int64_t t_ld, int H, int W, int Ch,
                           const float* __restrict__ w, const float* __restrict__ bias, __half* __restrict__ out,
                           std::int64_t out_ld) {
    __shared__ __align__(16) float tile[tile_pixels(1) * kFfnChannels];  // [pixel][cw], halo 1
    constexpr int kCols = kTileX + 2;
    const int y0 = blockIdx.y * kTileY, x0 = blockIdx.x * kTileX;
    const int c0 = blockIdx.z * kFfnChannels, cw = min(kFfnChannels, Ch - c0), pairs = cw / 2;
    stage_tile(t_map, t_ld, H, W, y0, x0, 1, c0, cw, tile, Gelu{});
    __syncthreads();

    for (int idx = threadIdx.x; idx < kTileTokens * pairs; idx += kThreads) {
        const int k = idx / pairs, c = 2 * (idx - k * pairs), gc = c0 + c;
        const int ty = k / kTileX, tx = k % kTileX, y = y0 + ty, xx = x0 + tx;
        if (y >= H || xx >= W) continue;
        const float2 center = *reinterpret_cast<const float2*>(tile + ((ty + 1) * kCols + tx + 1) * cw + c);
        float a0 = center.x + bias[gc], a1 = center.y + bias[gc + 1];
#pragma unroll
        for (int tap = 0; tap < 9; ++tap) {
            const float2 nb = *reinterpret_cast<const float2*>(tile + ((ty + tap / 3) * kCols + tx + tap % 3) * cw + c);
            a0 += w[gc * 9 + tap] * nb.x;
            a1 += w[(gc + 1) * 9 + tap] * nb.y;
        }
        *reinterpret_cast<__half2*>(out + (std::int64_t(y) * W + xx) * out_ld + gc) = __floats2half2_rn(a0, a1);
    }
}

dim3 tile_grid(int H, int W, int channel_runs = 1) {
    return dim3(unsigned(div_up(W, kTileX)), unsigned(div_up(H, kTileY)), unsigned(channel_runs));
}

template <int R>
cudaError_t launch_cpe(const float* x, int H, int W, int C, const float* w, const float* bias, const float* gamma,
                       const float* beta, float eps, float* x_out, __half* normed, std::int64_t normed_ld,
                       cudaStream_t stream) {
    const std::size_t shared = std::size_t(tile_pixels(1)) * C * sizeof(float);
    if (cudaError_t e = allow_shared_memory(cpe_residual_layernorm_kernel<R>, shared); e != cudaSuccess) return e;
    cpe_residual_layernorm_kernel<R><<<tile_grid(H, W), kThreads, shared, stream>>>(x, H, W, C, w, bias, gamma, beta,
                                                                                      eps, x_out, normed, normed_ld);
    return cudaGetLastError();
}

}  // namespace

cudaError_t cpe_residual_layernorm(const float* x, int H, int W, int C, const float* w, const float* bias,
                                   const float* gamma, const float* beta, float eps, float* x_out, __half* normed,
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
