#include "cuda/cuda_network.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "attention_tail.cuh"
#include "conv3x3.cuh"
#include "convert.cuh"
#include "cuda/cuda_check.h"
#include "dwconv.cuh"
#include "linear_attention.cuh"
#include "softmax_attention.cuh"

namespace nalasr::cuda {
namespace {

constexpr float kLayerNormEps = 1e-5f;

class Forward {
public:
    Forward(CudaContext& ctx, const ModelConfig& config, const NetworkWeights& weights, const ForwardPlan& plan,
            std::byte* arena)
        : ctx_(ctx), cfg_(config), weights_(weights), plan_(plan), arena_(arena), H_(plan.height), W_(plan.width),
          N_(plan.tokens), C_(config.channels), hidden_(config.ffn_ratio * config.channels), ld_(plan.work_ld) {}

    Status run(const ForwardControl& control) {
        // The residual stream is float16 (docs/cuda_notes.md, run 6) in three buffers: `group` holds y, the
        // group's input, which the group conv then updates in place (y += conv(z)); the blocks run from y into
        // `x`, with `spare` holding the residual between a block's two halves.
        __half* group = buf<__half>(Buf::Group);
        __half* x = buf<__half>(Buf::Residual);
        __half* spare = buf<__half>(Buf::Spare);
        const float* image = buf<float>(Buf::Input);

        NALASR_RETURN_IF_ERROR(conv3x3(ctx_, weights_.conv_first, image, H_, W_, 0.5f, group, C_,
                                       buf<__half>(Buf::Columns), plan_.chunk_tokens));
        const int total_blocks = cfg_.groups * cfg_.blocks;
        for (int g = 0; g < cfg_.groups; ++g) {
            for (int b = 0; b < cfg_.blocks; ++b) {
                NALASR_RETURN_IF_ERROR(
                    block(weights_.blocks[std::size_t(g * cfg_.blocks + b)], b == 0 ? group : x, x, spare));
                NALASR_RETURN_IF_ERROR(checkpoint(control, double(g * cfg_.blocks + b + 1) / total_blocks));
            }
            NALASR_RETURN_IF_ERROR(conv(weights_.group_convs[std::size_t(g)], x, group, true));
        }
        // conv_after(y) + feat, with feat recomputed from the input instead of kept through the body.
        NALASR_RETURN_IF_ERROR(conv3x3(ctx_, weights_.conv_first, image, H_, W_, 0.5f, x, C_,
                                       buf<__half>(Buf::Columns), plan_.chunk_tokens));
        NALASR_RETURN_IF_ERROR(conv(weights_.conv_after, group, x, true));
        return upsample(x);
    }

private:
    template <typename T>
    T* buf(Buf b) const {
        return reinterpret_cast<T*>(arena_ + plan_.offset(b));
    }

    Status conv(const Conv3x3Weights& w, const __half* src, __half* out, bool accumulate) {
        return conv3x3(ctx_, w, src, H_, W_, 0.0f, out, C_, accumulate, buf<__half>(Buf::Columns),
                       plan_.chunk_tokens);
    }

    // The block of docs/model.md from the residual `in` to `x` (in may be x); `spare` holds it in between.
    Status block(const BlockWeights& w, const __half* in, __half* x, __half* spare) {
        __half* normed = buf<__half>(Buf::Normed);
        __half* work = buf<__half>(Buf::Work);
        cudaStream_t s = ctx_.stream();

        // in + cpe1(in) → spare; norm1 → normed; qkvg; attention core (o over q); tail (u over k); spare += proj(u)
        NALASR_CUDA_CHECK(kernels::cpe_residual_layernorm(in, H_, W_, C_, w.cpe1.w, w.cpe1.bias, w.norm1.gamma,
                                                          w.norm1.beta, kLayerNormEps, spare, normed, C_, s));
        NALASR_RETURN_IF_ERROR(linear(ctx_, w.qkvg, normed, C_, N_, work, ld_, GemmOutput::F16, false));
        NALASR_RETURN_IF_ERROR(attention(w, work));
        NALASR_RETURN_IF_ERROR(linear(ctx_, w.proj, work + C_, ld_, N_, spare, C_, GemmOutput::F16, true));

        // spare + cpe2(spare) → x; norm2 → normed; fc1 → work[0, hidden); GELU + dwconv → work[hidden, 2·hidden);
        // x += fc2(·)
        NALASR_CUDA_CHECK(kernels::cpe_residual_layernorm(spare, H_, W_, C_, w.cpe2.w, w.cpe2.bias, w.norm2.gamma,
                                                          w.norm2.beta, kLayerNormEps, x, normed, C_, s));
        NALASR_RETURN_IF_ERROR(linear(ctx_, w.fc1, normed, C_, N_, work, ld_, GemmOutput::F16, false));
        NALASR_CUDA_CHECK(kernels::ffn_gelu_dwconv(work, ld_, H_, W_, hidden_, w.ffn_dwconv.w, w.ffn_dwconv.bias,
                                                   work + hidden_, ld_, s));
        return linear(ctx_, w.fc2, work + hidden_, ld_, N_, x, C_, GemmOutput::F16, true);
    }

    // The attention core writes o over q; the tail writes u (proj's input) over k.
    Status attention(const BlockWeights& w, __half* work) {
        cudaStream_t s = ctx_.stream();
        const kernels::LinearAttentionShape shape{H_, W_, C_, cfg_.heads, ld_};
        float* scratch = buf<float>(Buf::Attention);
        switch (cfg_.attention) {
            case AttentionKind::Nala: {
                const auto* rope_rows = buf<float2>(Buf::Rope);
                const auto* rope_cols = rope_rows + std::size_t(H_) * (cfg_.head_dim() / 4);
                NALASR_CUDA_CHECK(kernels::nala_attention(work, shape, rope_rows, rope_cols, scratch, s));
                break;
            }
            case AttentionKind::Pola:
                NALASR_CUDA_CHECK(kernels::pola_attention(work, shape, w.kpos.w, w.kpos.bias, w.inv_sigma, w.power,
                                                          scratch, s));
                break;
            case AttentionKind::Softmax:
                NALASR_RETURN_IF_ERROR(softmax_attention(ctx_, work, ld_, H_, W_, C_, cfg_.heads, scratch));
                break;
        }
        if (cfg_.attention == AttentionKind::Pola)
            NALASR_CUDA_CHECK(kernels::pola_attention_tail(work, ld_, H_, W_, C_, cfg_.head_dim(), w.lepe.w,
                                                           w.lepe.bias, s));
        else
            NALASR_CUDA_CHECK(kernels::nala_attention_tail(work, ld_, H_, W_, C_, w.lepe.w, w.lepe.bias,
                                                           w.attn_norm.gamma, w.attn_norm.beta, kLayerNormEps, s));
        return Status::ok();
    }

    // upsample.conv + PixelShuffle + 0.5 into the output image: in one implicit-GEMM pass where the kernel takes
    // Cin, else a chunk at a time through Buf::UpsampleOut (float32), each chunk shuffled straight into the image.
    Status upsample(const __half* y) {
        const Conv3x3Weights& w = weights_.upsample;
        if (kernels::conv3x3_implicit_supported(w.cin)) {
            NALASR_CUDA_CHECK(kernels::conv3x3_implicit_shuffle(y, H_, W_, w.cin, w.w, w.k_pad, w.bias, w.cout_pad,
                                                                cfg_.scale, buf<float>(Buf::Output), ctx_.stream()));
            return Status::ok();
        }
        float* conv_out = buf<float>(Buf::UpsampleOut);
        for (std::int64_t t0 = 0; t0 < N_; t0 += plan_.chunk_tokens) {
            const int count = int(std::min<std::int64_t>(plan_.chunk_tokens, N_ - t0));
            NALASR_RETURN_IF_ERROR(conv3x3_tokens(ctx_, w, y, H_, W_, 0.0f, t0, count, conv_out, w.cout_pad,
                                                  GemmOutput::F32, false, buf<__half>(Buf::Columns)));
            NALASR_CUDA_CHECK(kernels::pixel_shuffle_add_half(conv_out, w.cout_pad, t0, count, W_, 3, cfg_.scale,
                                                              buf<float>(Buf::Output), ctx_.stream()));
        }
        return Status::ok();
    }

    // Progress and cancellation between blocks (only when asked for: the synchronisation costs a little).
    Status checkpoint(const ForwardControl& control, double fraction) {
        if (!control.report && !control.cancelled) return Status::ok();
        NALASR_CUDA_CHECK(cudaStreamSynchronize(ctx_.stream()));
        if (control.report) control.report(fraction);
        if (control.cancelled && control.cancelled()) return {StatusCode::Cancelled, "cancelled"};
        return Status::ok();
    }

    CudaContext& ctx_;
    const ModelConfig& cfg_;
    const NetworkWeights& weights_;
    const ForwardPlan& plan_;
    std::byte* arena_;
    const int H_, W_;
    const std::int64_t N_;
    const int C_, hidden_, ld_;
};

}  // namespace

namespace {

// im2col rows of [t0, t0 + count) into `columns`, then one GEMM into y (float16 with the float16 bias, or float32).
template <typename T>
Status im2col_gemm(CudaContext& ctx, const Conv3x3Weights& w, const T* src, int H, int W, float offset,
                   std::int64_t t0, int count, void* y, std::int64_t ldy, GemmOutput out, bool accumulate,
                   __half* columns) {
    NALASR_CUDA_CHECK(kernels::im2col3x3(src, H, W, w.cin, offset, t0, count, w.k_pad, columns, ctx.stream()));
    GemmArgs g;
    g.m = w.cout_pad, g.n = count, g.k = w.k_pad;
    g.w = w.w, g.x = columns, g.ldx = w.k_pad;
    g.y = y, g.ldy = ldy, g.out = out;
    g.bias = out == GemmOutput::F16 ? static_cast<const void*>(w.bias16) : static_cast<const void*>(w.bias);
    g.accumulate = accumulate;
    return gemm(ctx, g);
}

template <typename T>
Status im2col_conv(CudaContext& ctx, const Conv3x3Weights& w, const T* src, int H, int W, float offset, __half* out,
                   std::int64_t ldy, bool accumulate, __half* columns, int chunk_tokens) {
    const std::int64_t N = std::int64_t(H) * W;
    for (std::int64_t t0 = 0; t0 < N; t0 += chunk_tokens) {
        const int count = int(std::min<std::int64_t>(chunk_tokens, N - t0));
        NALASR_RETURN_IF_ERROR(im2col_gemm(ctx, w, src, H, W, offset, t0, count, out + t0 * ldy, ldy,
                                           GemmOutput::F16, accumulate, columns));
    }
    return Status::ok();
}

}  // namespace

Status conv3x3_tokens(CudaContext& ctx, const Conv3x3Weights& w, const __half* src, int H, int W, float offset,
                      std::int64_t t0, int count, void* y, std::int64_t ldy, GemmOutput out, bool accumulate,
                      __half* columns) {
    if (kernels::conv3x3_implicit_supported(w.cin)) {
        if (out != GemmOutput::F16)
            return {StatusCode::Internal, "conv3x3_tokens: the implicit-GEMM kernel writes float16 only"};
        NALASR_CUDA_CHECK(kernels::conv3x3_implicit(src, H, W, w.cin, offset, t0, count, w.w, w.k_pad, w.bias,
                                                    w.cout_pad, static_cast<__half*>(y), ldy, accumulate,
                                                    ctx.stream()));
        return Status::ok();
    }
    return im2col_gemm(ctx, w, src, H, W, offset, t0, count, y, ldy, out, accumulate, columns);
}

Status conv3x3(CudaContext& ctx, const Conv3x3Weights& w, const __half* src, int H, int W, float offset, __half* out,
               std::int64_t ldy, bool accumulate, __half* columns, int chunk_tokens) {
    if (kernels::conv3x3_implicit_supported(w.cin)) {  // no im2col rows: the whole image in one launch
        NALASR_CUDA_CHECK(kernels::conv3x3_implicit(src, H, W, w.cin, offset, 0, std::int64_t(H) * W, w.w, w.k_pad,
                                                    w.bias, w.cout_pad, out, ldy, accumulate, ctx.stream()));
        return Status::ok();
    }
    return im2col_conv(ctx, w, src, H, W, offset, out, ldy, accumulate, columns, chunk_tokens);
}

Status conv3x3(CudaContext& ctx, const Conv3x3Weights& w, const float* image, int H, int W, float offset,
               __half* out, std::int64_t ldy, __half* columns, int chunk_tokens) {
    return im2col_conv(ctx, w, image, H, W, offset, out, ldy, false, columns, chunk_tokens);
}

Status linear(CudaContext& ctx, const LinearWeights& w, const __half* x, std::int64_t ldx, std::int64_t n, void* y,
              std::int64_t ldy, GemmOutput out, bool accumulate) {
    GemmArgs g;
    g.m = w.out, g.n = n, g.k = w.in;
    g.w = w.w, g.x = x, g.ldx = ldx;
    g.y = y, g.ldy = ldy, g.out = out;
    g.bias = w.bias, g.accumulate = accumulate;
    return gemm(ctx, g);
}

Status softmax_attention(CudaContext& ctx, __half* qkvg, std::int64_t ld, int H, int W, int C, int heads,
                         float* scratch) {
    const std::int64_t N = std::int64_t(H) * W;
    const int d = C / heads;
    if (N > 0x7fffffff) return {StatusCode::InvalidArgument, "softmax attention: too many tokens for cuBLAS"};
    const int n = int(N);
    float* scores = scratch;
    float* v32 = scores + N * N;
    float* o32 = v32 + N * d;
    const float one = 1.0f, zero = 0.0f;
    for (int h = 0; h < heads; ++h) {
        __half* q = qkvg + h * d;
        const __half* k = qkvg + C + h * d;
        const __half* v = qkvg + 2 * C + h * d;
        // scores (row-major N × N) = q·kᵀ, i.e. column-major kᵀ-op(K)·Q with K, Q as d × N (ld = ld).
        NALASR_CUBLAS_CHECK(cublasGemmEx(ctx.blas(), CUBLAS_OP_T, CUBLAS_OP_N, n, n, d, &one, k, CUDA_R_16F, int(ld),
                                         q, CUDA_R_16F, int(ld), &zero, scores, CUDA_R_32F, n, CUBLAS_COMPUTE_32F,
                                         CUBLAS_GEMM_DEFAULT));
        NALASR_CUDA_CHECK(kernels::softmax_rows(scores, N, N, 1.0f / std::sqrt(float(d)), ctx.stream()));
        NALASR_CUDA_CHECK(kernels::gather_f16_to_f32(v, ld, N, d, v32, ctx.stream()));
        // o (row-major N × d) = P·v, i.e. column-major V (d × N) · Pᵀ-as-stored (N × N).
        NALASR_CUBLAS_CHECK(cublasGemmEx(ctx.blas(), CUBLAS_OP_N, CUBLAS_OP_N, d, n, n, &one, v32, CUDA_R_32F, d,
                                         scores, CUDA_R_32F, n, &zero, o32, CUDA_R_32F, d, CUBLAS_COMPUTE_32F,
                                         CUBLAS_GEMM_DEFAULT));
        NALASR_CUDA_CHECK(kernels::scatter_f32_to_f16(o32, N, d, q, ld, ctx.stream()));
    }
    return Status::ok();
}

std::vector<float> rope_table(int H, int W, int d) {
    const int quarter = d / 4;
    std::vector<float> table(std::size_t(H + W) * quarter * 2);
    std::size_t i = 0;
    for (int axis = 0; axis < 2; ++axis)
        for (int pos = 0; pos < (axis == 0 ? H : W); ++pos)
            for (int j = 0; j < quarter; ++j) {
                // ω_j = 10000^(−j/(d/4 − 1)); with a single pair (d = 4) ω_0 = 1.
                const double omega = quarter == 1 ? 1.0 : std::pow(10000.0, -double(j) / double(quarter - 1));
                const double theta = double(pos) * omega;
                table[i++] = float(std::cos(theta));
                table[i++] = float(std::sin(theta));
            }
    return table;
}

Status prepare_arena(const ModelConfig& config, const ForwardPlan& plan, std::byte* arena) {
    if (config.attention != AttentionKind::Nala) return Status::ok();
    const std::vector<float> table = rope_table(plan.height, plan.width, config.head_dim());
    NALASR_CUDA_CHECK(
        cudaMemcpy(arena + plan.offset(Buf::Rope), table.data(), table.size() * sizeof(float), cudaMemcpyHostToDevice));
    return Status::ok();
}

Status run_network(CudaContext& ctx, const ModelConfig& config, const NetworkWeights& weights,
                   const ForwardPlan& plan, std::byte* arena, const ForwardControl& control) {
    return Forward(ctx, config, weights, plan, arena).run(control);
}

}  // namespace nalasr::cuda
