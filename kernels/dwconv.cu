#include "common.cuh"
#include "dwconv.cuh"

namespace nalasr::kernels {
namespace {

constexpr int kWarpsPerBlock = 8;
constexpr int kThreads = 256;

// One warp per token; lane l owns the channel pairs 2l + 64r, r < R.
template <int R>
__global__ void cpe_residual_layernorm_kernel(const float* __restrict__ x, int H, int W, int C,
                                              const float* __restrict__ w, const float* __restrict__ bias,
                                              const float* __restrict__ gamma, const float* __restrict__ beta,
                                              float eps, float* __restrict__ x_out, __half* __restrict__ normed,
                                              std::int64_t normed_ld) {
    const std::int64_t t = std::int64_t(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
    const int lane = threadIdx.x % 32;
    if (t >= std::int64_t(H) * W) return;
    const int y = int(t / W), xx = int(t % W);

    float v[2 * R];
    float sum = 0.0f;
#pragma unroll
    for (int r = 0; r < R; ++r) {
        const int c = 2 * lane + 64 * r;
        v[2 * r] = v[2 * r + 1] = 0.0f;
        if (c >= C) continue;
        const float2 center = *reinterpret_cast<const float2*>(x + t * C + c);
        float a0 = center.x + bias[c], a1 = center.y + bias[c + 1];
        for (int k = 0; k < 9; ++k) {
            const int ny = y + k / 3 - 1, nx = xx + k % 3 - 1;
            if (ny < 0 || ny >= H || nx < 0 || nx >= W) continue;
            const float2 nb = *reinterpret_cast<const float2*>(x + (std::int64_t(ny) * W + nx) * C + c);
            a0 += w[c * 9 + k] * nb.x;
            a1 += w[(c + 1) * 9 + k] * nb.y;
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

// One thread per (token, channel pair).
__global__ void ffn_gelu_dwconv_kernel(const __half* __restrict__ t_map, std::int64_t t_ld, int H, int W, int Ch,
                                       const float* __restrict__ w, const float* __restrict__ bias,
                                       __half* __restrict__ out, std::int64_t out_ld) {
    const int pairs = Ch / 2;
    const std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i >= std::int64_t(H) * W * pairs) return;
    const std::int64_t t = i / pairs;
    const int c = 2 * int(i - t * pairs);
    const int y = int(t / W), xx = int(t % W);

    const float2 center = __half22float2(*reinterpret_cast<const __half2*>(t_map + t * t_ld + c));
    float a0 = gelu_erf(center.x) + bias[c], a1 = gelu_erf(center.y) + bias[c + 1];
    for (int k = 0; k < 9; ++k) {
        const int ny = y + k / 3 - 1, nx = xx + k % 3 - 1;
        if (ny < 0 || ny >= H || nx < 0 || nx >= W) continue;
        const float2 nb =
            __half22float2(*reinterpret_cast<const __half2*>(t_map + (std::int64_t(ny) * W + nx) * t_ld + c));
        a0 += w[c * 9 + k] * gelu_erf(nb.x);
        a1 += w[(c + 1) * 9 + k] * gelu_erf(nb.y);
    }
    *reinterpret_cast<__half2*>(out + t * out_ld + c) = __floats2half2_rn(a0, a1);
}

}  // namespace

cudaError_t cpe_residual_layernorm(const float* x, int H, int W, int C, const float* w, const float* bias,
                                   const float* gamma, const float* beta, float eps, float* x_out, __half* normed,
                                   std::int64_t normed_ld, cudaStream_t stream) {
    if (C % 2 != 0 || C > kMaxLayerNormChannels) return cudaErrorInvalidValue;
    const std::int64_t N = std::int64_t(H) * W;
    if (N == 0) return cudaGetLastError();
    const unsigned blocks = unsigned(div_up(N, kWarpsPerBlock));
    if (C <= 64)
        cpe_residual_layernorm_kernel<1><<<blocks, kThreads, 0, stream>>>(x, H, W, C, w, bias, gamma, beta, eps, x_out,
                                                                           normed, normed_ld);
    else if (C <= 128)
        cpe_residual_layernorm_kernel<2><<<blocks, kThreads, 0, stream>>>(x, H, W, C, w, bias, gamma, beta, eps, x_out,
                                                                           normed, normed_ld);
    else if (C <= 256)
        cpe_residual_layernorm_kernel<4><<<blocks, kThreads, 0, stream>>>(x, H, W, C, w, bias, gamma, beta, eps, x_out,
                                                                           normed, normed_ld);
    else
        cpe_residual_layernorm_kernel<8><<<blocks, kThreads, 0, stream>>>(x, H, W, C, w, bias, gamma, beta, eps, x_out,
                                                                           normed, normed_ld);
    return cudaGetLastError();
}

cudaError_t ffn_gelu_dwconv(const __half* t, std::int64_t t_ld, int H, int W, int Ch, const float* w,
                            const float* bias, __half* out, std::int64_t out_ld, cudaStream_t stream) {
    if (Ch % 2 != 0) return cudaErrorInvalidValue;
    const std::int64_t n = std::int64_t(H) * W * (Ch / 2);
    if (n > 0)
        ffn_gelu_dwconv_kernel<<<unsigned(div_up(n, kThreads)), kThreads, 0, stream>>>(t, t_ld, H, W, Ch, w, bias, out,
                                                                                       out_ld);
    return cudaGetLastError();
}

}  // namespace nalasr::kernels
