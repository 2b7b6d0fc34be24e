#include "attention_tail.cuh"
#include "common.cuh"
#include "dwconv.cuh"

namespace nalasr::kernels {
namespace {

constexpr int kWarpsPerBlock = 8;
constexpr int kThreads = 256;

// o(c..c+1) + lepe(v)(c..c+1) for the depthwise 5×5 filters f0, f1 (25 floats each) and biases b0, b1.
__device__ inline float2 o_plus_lepe(const __half* qkvg, std::int64_t ld, int H, int W, int C, std::int64_t t, int c,
                                     const float* f0, const float* f1, float b0, float b1) {
    const int y = int(t / W), xx = int(t % W);
    const float2 o = __half22float2(*reinterpret_cast<const __half2*>(qkvg + t * ld + c));
    float a0 = o.x + b0, a1 = o.y + b1;
    for (int k = 0; k < 25; ++k) {
        const int ny = y + k / 5 - 2, nx = xx + k % 5 - 2;
        if (ny < 0 || ny >= H || nx < 0 || nx >= W) continue;
        const float2 v =
            __half22float2(*reinterpret_cast<const __half2*>(qkvg + (std::int64_t(ny) * W + nx) * ld + 2 * C + c));
        a0 += f0[k] * v.x;
        a1 += f1[k] * v.y;
    }
    return make_float2(a0, a1);
}

// One warp per token; lane l owns the channel pairs 2l + 64r, r < R.
template <int R>
__global__ void nala_tail_kernel(__half* __restrict__ qkvg, std::int64_t ld, int H, int W, int C,
                                 const float* __restrict__ lepe_w, const float* __restrict__ lepe_b,
                                 const float* __restrict__ gamma, const float* __restrict__ beta, float eps) {
    const std::int64_t t = std::int64_t(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
    const int lane = threadIdx.x % 32;
    if (t >= std::int64_t(H) * W) return;

    float v[2 * R];
    float sum = 0.0f;
#pragma unroll
    for (int r = 0; r < R; ++r) {
        const int c = 2 * lane + 64 * r;
        v[2 * r] = v[2 * r + 1] = 0.0f;
        if (c >= C) continue;
        const float2 a = o_plus_lepe(qkvg, ld, H, W, C, t, c, lepe_w + c * 25, lepe_w + (c + 1) * 25, lepe_b[c],
                                     lepe_b[c + 1]);
        v[2 * r] = a.x;
        v[2 * r + 1] = a.y;
        sum += a.x + a.y;
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
        const float2 g = __half22float2(*reinterpret_cast<const __half2*>(qkvg + t * ld + 3 * C + c));
        const float u0 = ((v[2 * r] - mean) * rstd * gamma[c] + beta[c]) * silu(g.x);
        const float u1 = ((v[2 * r + 1] - mean) * rstd * gamma[c + 1] + beta[c + 1]) * silu(g.y);
        *reinterpret_cast<__half2*>(qkvg + t * ld + C + c) = __floats2half2_rn(u0, u1);
    }
}

// One thread per (token, channel pair); a pair never straddles two heads since d is even.
__global__ void pola_tail_kernel(__half* __restrict__ qkvg, std::int64_t ld, int H, int W, int C, int d,
                                 const float* __restrict__ lepe_w, const float* __restrict__ lepe_b) {
    const int pairs = C / 2;
    const std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i >= std::int64_t(H) * W * pairs) return;
    const std::int64_t t = i / pairs;
    const int c = 2 * int(i - t * pairs), f = c % d;
    const float2 a = o_plus_lepe(qkvg, ld, H, W, C, t, c, lepe_w + f * 25, lepe_w + (f + 1) * 25, lepe_b[f],
                                 lepe_b[f + 1]);
    const float2 g = __half22float2(*reinterpret_cast<const __half2*>(qkvg + t * ld + 3 * C + c));
    *reinterpret_cast<__half2*>(qkvg + t * ld + C + c) = __floats2half2_rn(a.x * g.x, a.y * g.y);
}

}  // namespace

cudaError_t nala_attention_tail(__half* qkvg, std::int64_t ld, int H, int W, int C, const float* lepe_w,
                                const float* lepe_b, const float* gamma, const float* beta, float eps,
                                cudaStream_t stream) {
    if (C % 2 != 0 || C > kMaxLayerNormChannels) return cudaErrorInvalidValue;
    const std::int64_t N = std::int64_t(H) * W;
    if (N == 0) return cudaGetLastError();
    const unsigned blocks = unsigned(div_up(N, kWarpsPerBlock));
    if (C <= 64)
        nala_tail_kernel<1><<<blocks, kThreads, 0, stream>>>(qkvg, ld, H, W, C, lepe_w, lepe_b, gamma, beta, eps);
    else if (C <= 128)
        nala_tail_kernel<2><<<blocks, kThreads, 0, stream>>>(qkvg, ld, H, W, C, lepe_w, lepe_b, gamma, beta, eps);
    else if (C <= 256)
        nala_tail_kernel<4><<<blocks, kThreads, 0, stream>>>(qkvg, ld, H, W, C, lepe_w, lepe_b, gamma, beta, eps);
    else
        nala_tail_kernel<8><<<blocks, kThreads, 0, stream>>>(qkvg, ld, H, W, C, lepe_w, lepe_b, gamma, beta, eps);
    return cudaGetLastError();
}

cudaError_t pola_attention_tail(__half* qkvg, std::int64_t ld, int H, int W, int C, int d, const float* lepe_w,
                                const float* lepe_b, cudaStream_t stream) {
    if (d % 2 != 0 || C % d != 0) return cudaErrorInvalidValue;
    const std::int64_t n = std::int64_t(H) * W * (C / 2);
    if (n > 0)
        pola_tail_kernel<<<unsigned(div_up(n, kThreads)), kThreads, 0, stream>>>(qkvg, ld, H, W, C, d, lepe_w, lepe_b);
    return cudaGetLastError();
}

}  // namespace nalasr::kernels
