// Every CUDA kernel (and the GEMM paths built on cuBLASLt) against the CPU reference ops of core/src/cpu/ops.h,
// over one table of ops × shapes (odd sizes, fixed seeds, random non-zero inputs), by NMSE with the tolerance
// policy of cuda_test_util.h. The attention cores are also checked against float64 references.
#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <string>

#include "attention_reference.h"
#include "attention_tail.cuh"
#include "conv3x3.cuh"
#include "convert.cuh"
#include "cpu/ops.h"
#include "cuda/cuda_context.h"
#include "cuda/cuda_network.h"
#include "cuda/cuda_weights.h"
#include "cuda_test_util.h"
#include "dwconv.cuh"
#include "linear_attention.cuh"
#include "nalasr/model.h"

namespace nalasr::test {
namespace {

// float32 outputs computed in float32 from float16-exact inputs: only the summation order differs.
constexpr double kNmseF32Out = 1e-9;
// The residual stream is float16 (docs/cuda_notes.md, run 6): the convolutions, proj/fc2 and cpe write it rounded
// once from float32 sums (kNmseF16Out below); their references take float16-exact inputs and residuals.
// float16 outputs: one rounding (relative 2⁻¹¹ ⇒ NMSE ≈ 1e-7), plus float32 arithmetic before it.
constexpr double kNmseF16Out = 1e-6;
// Attention cores: float16 output, and powers up to 4.5 and k³ amplify float32 rounding of their inputs.
constexpr double kNmseAttention = 1e-5;
// Against the float64 formulas: the fused kernels' required accuracy (relative L2).
constexpr double kRelF64Attention = 1e-2;
// Tokens per im2col chunk in these tests: odd and small, so every test crosses chunk boundaries.
constexpr int kTestChunk = 37;

struct OpCase {
    std::string op;
    int H, W;
    int C, heads, scale;
    AttentionKind kind;
    std::string vars() const {
        return op + "(H=" + std::to_string(H) + ",W=" + std::to_string(W) + ",C=" + std::to_string(C) +
               ",heads=" + std::to_string(heads) + ",s=" + std::to_string(scale) + "," + attention_kind_name(kind) +
               ")";
    }
};

// A random model of the case's config on the GPU, and the context the ops run in.
struct OpEnv {
    explicit OpEnv(const OpCase& c) : ctx(0) {
        cfg.channels = c.C, cfg.heads = c.heads, cfg.groups = 1, cfg.blocks = 1, cfg.scale = c.scale;
        cfg.attention = c.kind;
        model = Model::random(cfg, 1234);
        EXPECT_TRUE(ctx.activate().is_ok());
        const Status st = cuda::upload_weights(model, &weights);
        EXPECT_TRUE(st.is_ok()) << st.message();
        N = std::size_t(c.H) * c.W;
    }
    const std::vector<float>& t(const std::string& name) const { return model.find(name)->data; }
    std::string blk(const std::string& name) const { return "groups.0.blocks.0." + name; }

    ModelConfig cfg;
    Model model;
    cuda::CudaContext ctx;
    cuda::NetworkWeights weights;
    std::size_t N = 0;
};

void check(const OpCase& c, const std::string& what, double error, double bound) {
    report(c.vars() + " " + what, error, bound);
    EXPECT_LT(error, bound) << c.vars() << " " << what;
    EXPECT_TRUE(std::isfinite(error)) << c.vars() << " " << what;
}

// Columns of a (rows, ld) matrix, compacted to (rows, cols).
std::vector<float> columns(const std::vector<float>& m, std::size_t rows, std::size_t ld, std::size_t first,
                           std::size_t cols) {
    std::vector<float> out(rows * cols);
    for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < cols; ++c) out[r * cols + c] = m[r * ld + first + c];
    return out;
}

void op_conv_first(const OpCase& c, OpEnv& e) {
    const cuda::Conv3x3Weights& w = e.weights.conv_first;
    const std::vector<float> img = random_floats(e.N * 3, 11, 0.0f, 1.0f);
    DeviceArray<float> d_img(img);
    DeviceArray<__half> d_out(e.N * c.C), cols(std::size_t(kTestChunk) * w.k_pad);
    ASSERT_TRUE(cuda::conv3x3(e.ctx, w, d_img.get(), c.H, c.W, 0.5f, d_out.get(), c.C, cols.get(), kTestChunk).is_ok());
    std::vector<float> x(img.size()), ref(e.N * c.C);
    for (std::size_t i = 0; i < img.size(); ++i) x[i] = round_f16(img[i] - 0.5f);
    // im2col + a GEMM with float16 output and its float16 bias
    cpu::conv3x3(x.data(), c.H, c.W, 3, round_f16(e.t("conv_first.weight")).data(),
                 round_f16(e.t("conv_first.bias")).data(), c.C, ref.data());
    check(c, "conv_first (float16 out)", nmse(d_out.download(), ref), kNmseF16Out);
}

// The bias a C-input conv adds: float32 in the implicit kernel, the float16 copy in a GEMM with float16 output.
std::vector<float> conv_bias(const OpEnv& e, const std::string& name, int cin) {
    return kernels::conv3x3_implicit_supported(cin) ? e.t(name) : round_f16(e.t(name));
}

void op_conv_accumulate(const OpCase& c, OpEnv& e) {
    const cuda::Conv3x3Weights& w = e.weights.group_convs[0];
    const std::vector<float> x = round_f16(random_floats(e.N * c.C, 12)), y0 = round_f16(random_floats(e.N * c.C, 13));
    DeviceArray<__half> d_x(x), d_y(y0), cols(std::size_t(kTestChunk) * w.k_pad);
    ASSERT_TRUE(
        cuda::conv3x3(e.ctx, w, d_x.get(), c.H, c.W, 0.0f, d_y.get(), c.C, true, cols.get(), kTestChunk).is_ok());
    std::vector<float> ref(e.N * c.C);
    cpu::conv3x3(x.data(), c.H, c.W, c.C, round_f16(e.t("groups.0.conv.weight")).data(),
                 conv_bias(e, "groups.0.conv.bias", c.C).data(), c.C, ref.data());
    cpu::add_inplace(ref.data(), y0.data(), ref.size());
    check(c, "group conv + residual (float16 in and out)", nmse(d_y.download(), ref), kNmseF16Out);
}

void op_conv_upsample(const OpCase& c, OpEnv& e) {
    const cuda::Conv3x3Weights& w = e.weights.upsample;
    const std::vector<float> x = round_f16(random_floats(e.N * c.C, 14));
    DeviceArray<__half> d_x(x), d_out(e.N * w.cout_pad), cols(std::size_t(kTestChunk) * w.k_pad);
    ASSERT_TRUE(cuda::conv3x3(e.ctx, w, d_x.get(), c.H, c.W, 0.0f, d_out.get(), w.cout_pad, false, cols.get(),
                              kTestChunk)
                    .is_ok());
    std::vector<float> ref(e.N * w.cout);
    cpu::conv3x3(x.data(), c.H, c.W, c.C, round_f16(e.t("upsample.conv.weight")).data(),
                 conv_bias(e, "upsample.conv.bias", c.C).data(), w.cout, ref.data());
    check(c, "upsample conv (cout " + std::to_string(w.cout) + " padded to " + std::to_string(w.cout_pad) +
                 ", float16 out)",
          nmse(columns(d_out.download(), e.N, w.cout_pad, 0, w.cout), ref), kNmseF16Out);
    // The network's path where the implicit kernel does not take C: float32 chunks for the PixelShuffle.
    if (!kernels::conv3x3_implicit_supported(c.C)) {
        DeviceArray<float> d_out32(e.N * w.cout_pad);
        for (std::int64_t t0 = 0; t0 < std::int64_t(e.N); t0 += kTestChunk) {
            const int count = int(std::min<std::int64_t>(kTestChunk, std::int64_t(e.N) - t0));
            ASSERT_TRUE(cuda::conv3x3_tokens(e.ctx, w, d_x.get(), c.H, c.W, 0.0f, t0, count,
                                             d_out32.get() + t0 * w.cout_pad, w.cout_pad, cuda::GemmOutput::F32,
                                             false, cols.get())
                            .is_ok());
        }
        std::vector<float> ref32(e.N * w.cout);
        cpu::conv3x3(x.data(), c.H, c.W, c.C, round_f16(e.t("upsample.conv.weight")).data(),
                     e.t("upsample.conv.bias").data(), w.cout, ref32.data());
        check(c, "upsample conv by token ranges (float32 out)",
              nmse(columns(d_out32.download(), e.N, w.cout_pad, 0, w.cout), ref32), kNmseF32Out);
    }
}

// conv3x3_tokens over consecutive ranges of kTestChunk tokens (the upsample path's token ranges; the implicit
// kernel's tiles then straddle the range ends), with an input offset and accumulating into y.
void op_conv_tokens(const OpCase& c, OpEnv& e) {
    const cuda::Conv3x3Weights& w = e.weights.group_convs[0];
    const float offset = 0.25f;
    const std::vector<float> x = round_f16(random_floats(e.N * c.C, 25)), y0 = round_f16(random_floats(e.N * c.C, 26));
    DeviceArray<__half> d_x(x), d_y(y0), cols(std::size_t(kTestChunk) * w.k_pad);
    for (std::int64_t t0 = 0; t0 < std::int64_t(e.N); t0 += kTestChunk) {
        const int count = int(std::min<std::int64_t>(kTestChunk, std::int64_t(e.N) - t0));
        ASSERT_TRUE(cuda::conv3x3_tokens(e.ctx, w, d_x.get(), c.H, c.W, offset, t0, count, d_y.get() + t0 * c.C, c.C,
                                         cuda::GemmOutput::F16, true, cols.get())
                        .is_ok());
    }
    std::vector<float> xs(x.size()), ref(e.N * c.C);
    for (std::size_t i = 0; i < x.size(); ++i) xs[i] = round_f16(x[i] - offset);  // float16 in, − offset, rounded
    cpu::conv3x3(xs.data(), c.H, c.W, c.C, round_f16(e.t("groups.0.conv.weight")).data(),
                 conv_bias(e, "groups.0.conv.bias", c.C).data(), c.C, ref.data());
    cpu::add_inplace(ref.data(), y0.data(), ref.size());
    check(c, "conv3x3 by token ranges (offset 0.25, + residual, float16)", nmse(d_y.download(), ref), kNmseF16Out);
}

// The upsample conv with PixelShuffle + 0.5 fused into the implicit kernel's epilogue (the network's path for
// Cin a multiple of 16).
void op_conv_upsample_shuffle(const OpCase& c, OpEnv& e) {
    const cuda::Conv3x3Weights& w = e.weights.upsample;
    const int s = c.scale;
    ASSERT_TRUE(kernels::conv3x3_implicit_supported(w.cin));
    const std::vector<float> x = round_f16(random_floats(e.N * c.C, 27));
    DeviceArray<__half> d_x(x);
    DeviceArray<float> d_out(e.N * w.cout);
    ASSERT_EQ(kernels::conv3x3_implicit_shuffle(d_x.get(), c.H, c.W, w.cin, w.w, w.k_pad, w.bias, w.cout_pad, s,
                                                d_out.get(), e.ctx.stream()),
              cudaSuccess);
    std::vector<float> conv(e.N * w.cout), ref(e.N * w.cout);
    cpu::conv3x3(x.data(), c.H, c.W, c.C, round_f16(e.t("upsample.conv.weight")).data(),
                 e.t("upsample.conv.bias").data(), w.cout, conv.data());
    cpu::pixel_shuffle(conv.data(), c.H, c.W, 3, s, ref.data());
    for (float& v : ref) v += 0.5f;
    check(c, "upsample conv + PixelShuffle + 0.5 (s " + std::to_string(s) + ")", nmse(d_out.download(), ref),
          kNmseF32Out);
}

void op_linear_f16(const OpCase& c, OpEnv& e) {
    const int ld = 4 * c.C + 8;  // a row stride wider than the output, as the work buffer has for ffn_ratio > 2
    const std::vector<float> x = round_f16(random_floats(e.N * c.C, 15));
    DeviceArray<__half> d_x(x), d_y(e.N * ld);
    ASSERT_TRUE(cuda::linear(e.ctx, e.weights.blocks[0].qkvg, d_x.get(), c.C, e.N, d_y.get(), ld,
                             cuda::GemmOutput::F16, false)
                    .is_ok());
    std::vector<float> ref(e.N * 4 * c.C);
    cpu::linear(x.data(), e.N, c.C, c.C, round_f16(e.t(e.blk("attn.qkvg.weight"))).data(),
                round_f16(e.t(e.blk("attn.qkvg.bias"))).data(), 4 * c.C, ref.data());
    check(c, "linear qkvg (float16 out, bias)", nmse(columns(d_y.download(), e.N, ld, 0, 4 * c.C), ref), kNmseF16Out);
}

void op_linear_accumulate(const OpCase& c, OpEnv& e) {
    const int ldx = 4 * c.C;  // proj reads u from the k slot of the work buffer
    const std::vector<float> x = round_f16(random_floats(e.N * ldx, 16)), y0 = round_f16(random_floats(e.N * c.C, 17));
    DeviceArray<__half> d_x(x), d_y(y0);
    ASSERT_TRUE(cuda::linear(e.ctx, e.weights.blocks[0].proj, d_x.get() + c.C, ldx, e.N, d_y.get(), c.C,
                             cuda::GemmOutput::F16, true)
                    .is_ok());
    std::vector<float> ref(e.N * c.C);
    cpu::linear(x.data() + c.C, e.N, c.C, ldx, round_f16(e.t(e.blk("attn.proj.weight"))).data(),
                round_f16(e.t(e.blk("attn.proj.bias"))).data(), c.C, ref.data());
    cpu::add_inplace(ref.data(), y0.data(), ref.size());
    check(c, "linear proj (strided input, + float16 residual in place)", nmse(d_y.download(), ref), kNmseF16Out);
}

void op_cpe_layernorm(const OpCase& c, OpEnv& e) {
    const cuda::BlockWeights& b = e.weights.blocks[0];
    const int ld = c.C + 6;
    const std::vector<float> x = round_f16(random_floats(e.N * c.C, 18));
    DeviceArray<__half> d_x(x), d_out(e.N * c.C), d_norm(e.N * ld);
    ASSERT_EQ(kernels::cpe_residual_layernorm(d_x.get(), c.H, c.W, c.C, b.cpe1.w, b.cpe1.bias, b.norm1.gamma,
                                              b.norm1.beta, 1e-5f, d_out.get(), d_norm.get(), ld, e.ctx.stream()),
              cudaSuccess);
    std::vector<float> ref(e.N * c.C), ref_norm(e.N * c.C);
    cpu::dwconv(x.data(), c.H, c.W, c.C, 3, e.t(e.blk("cpe1.weight")).data(), e.t(e.blk("cpe1.bias")).data(),
                ref.data(), true);
    cpu::layernorm(ref.data(), e.N, c.C, e.t(e.blk("norm1.weight")).data(), e.t(e.blk("norm1.bias")).data(), 1e-5f,
                   ref_norm.data());
    check(c, "x + cpe(x) (float16 in and out)", nmse(d_out.download(), ref), kNmseF16Out);
    check(c, "LayerNorm(x + cpe(x)) (float16 out)", nmse(columns(d_norm.download(), e.N, ld, 0, c.C), ref_norm),
          kNmseF16Out);
}

void op_ffn_hidden(const OpCase& c, OpEnv& e) {
    const cuda::BlockWeights& b = e.weights.blocks[0];
    const int hidden = e.cfg.ffn_ratio * c.C, ld = 2 * hidden;
    const std::vector<float> t = round_f16(random_floats(e.N * ld, 19, -2.0f, 2.0f));
    DeviceArray<__half> d_t(t);
    ASSERT_EQ(kernels::ffn_gelu_dwconv(d_t.get(), ld, c.H, c.W, hidden, b.ffn_dwconv.w, b.ffn_dwconv.bias,
                                       d_t.get() + hidden, ld, e.ctx.stream()),
              cudaSuccess);
    std::vector<float> g = columns(t, e.N, ld, 0, hidden), ref(e.N * hidden);
    cpu::gelu_inplace(g.data(), g.size());
    cpu::dwconv(g.data(), c.H, c.W, hidden, 3, e.t(e.blk("ffn.dwconv.weight")).data(),
                e.t(e.blk("ffn.dwconv.bias")).data(), ref.data(), true);
    check(c, "GELU(t) + dwconv(GELU(t))", nmse(columns(d_t.download(), e.N, ld, hidden, hidden), ref), kNmseF16Out);
}

// Random qkvg (N, 4C) in float16-exact values.
std::vector<float> random_qkvg(const OpEnv& e, int C, std::uint64_t seed) {
    return round_f16(random_floats(e.N * 4 * C, seed));
}

void op_nala(const OpCase& c, OpEnv& e) {
    const std::vector<float> qkvg = random_qkvg(e, c.C, 20);
    DeviceArray<__half> d_qkvg(qkvg);
    const std::vector<float> rope = cuda::rope_table(c.H, c.W, c.C / c.heads);
    DeviceArray<float> d_rope(rope), scratch(kernels::linear_attention_scratch_floats(std::int64_t(e.N), c.C, c.heads));
    const kernels::LinearAttentionShape shape{c.H, c.W, c.C, c.heads, 4 * c.C};
    const auto* rows = reinterpret_cast<const float2*>(d_rope.get());
    ASSERT_EQ(kernels::nala_attention(d_qkvg.get(), shape, rows, rows + std::size_t(c.H) * (c.C / c.heads / 4),
                                      scratch.get(), e.ctx.stream()),
              cudaSuccess);
    const std::vector<float> got = columns(d_qkvg.download(), e.N, 4 * c.C, 0, c.C);
    std::vector<float> ref(e.N * c.C);
    cpu::nala_attention(qkvg.data(), c.H, c.W, c.C, c.heads, ref.data());
    check(c, "NaLa core vs CPU", nmse(got, ref), kNmseAttention);
    const double rel = rel_l2(got, nala_reference_f64(qkvg, c.H, c.W, c.C, c.heads));
    check(c, "NaLa core vs float64 (relative L2)", rel, kRelF64Attention);
}

void op_pola(const OpCase& c, OpEnv& e) {
    const cuda::BlockWeights& b = e.weights.blocks[0];
    const std::vector<float> qkvg = random_qkvg(e, c.C, 21);
    DeviceArray<__half> d_qkvg(qkvg);
    DeviceArray<float> scratch(kernels::linear_attention_scratch_floats(std::int64_t(e.N), c.C, c.heads));
    const kernels::LinearAttentionShape shape{c.H, c.W, c.C, c.heads, 4 * c.C};
    ASSERT_EQ(kernels::pola_attention(d_qkvg.get(), shape, b.kpos.w, b.kpos.bias, b.inv_sigma, b.power, scratch.get(),
                                      e.ctx.stream()),
              cudaSuccess);
    const std::vector<float> got = columns(d_qkvg.download(), e.N, 4 * c.C, 0, c.C);

    // The CPU core wants steps 1-2 done: k + kpos(k), then q and k divided by σ = softplus(scale).
    std::vector<float> adjusted = qkvg, k(e.N * c.C), k_biased(e.N * c.C), sigma = e.t(e.blk("attn.scale"));
    for (float& s : sigma) s = float(std::log1p(std::exp(double(s))));
    cpu::gather_channels(qkvg.data() + c.C, e.N, 4 * c.C, c.C, k.data());
    cpu::dwconv(k.data(), c.H, c.W, c.C, 3, e.t(e.blk("attn.kpos.weight")).data(),
                e.t(e.blk("attn.kpos.bias")).data(), k_biased.data(), true);
    cpu::pola_scale_qk(adjusted.data(), e.N, c.C, k_biased.data(), sigma.data());
    std::vector<float> ref(e.N * c.C);
    cpu::pola_attention(adjusted.data(), c.H, c.W, c.C, c.heads, e.t(e.blk("attn.power")).data(), ref.data());
    check(c, "Pola core vs CPU", nmse(got, ref), kNmseAttention);
    const double rel =
        rel_l2(got, pola_reference_f64(adjusted, c.H, c.W, c.C, c.heads, e.t(e.blk("attn.power"))));
    check(c, "Pola core vs float64 (relative L2)", rel, kRelF64Attention);
}

void op_softmax(const OpCase& c, OpEnv& e) {
    const std::vector<float> qkvg = random_qkvg(e, c.C, 22);
    DeviceArray<__half> d_qkvg(qkvg);
    const std::size_t d = std::size_t(c.C / c.heads);
    DeviceArray<float> scratch(e.N * e.N + 2 * e.N * d);
    ASSERT_TRUE(
        cuda::softmax_attention(e.ctx, d_qkvg.get(), 4 * c.C, c.H, c.W, c.C, c.heads, scratch.get()).is_ok());
    std::vector<float> ref(e.N * c.C);
    cpu::softmax_attention(qkvg.data(), c.H, c.W, c.C, c.heads, ref.data());
    check(c, "softmax core vs CPU", nmse(columns(d_qkvg.download(), e.N, 4 * c.C, 0, c.C), ref), kNmseF16Out);
}

// The reference tail: o (q channels) + lepe(v), then LayerNorm and ⊙ SiLU(g) (nala), or ⊙ g (pola).
std::vector<float> tail_reference(const OpCase& c, const OpEnv& e, const std::vector<float>& qkvg) {
    const std::size_t N = e.N;
    std::vector<float> o(N * c.C), v(N * c.C), lepe(N * c.C);
    cpu::gather_channels(qkvg.data(), N, 4 * c.C, c.C, o.data());
    cpu::gather_channels(qkvg.data() + 2 * c.C, N, 4 * c.C, c.C, v.data());
    const bool pola = c.kind == AttentionKind::Pola;
    if (pola)
        cpu::dwconv_shared(v.data(), c.H, c.W, c.C, c.C / c.heads, 5, e.t(e.blk("attn.lepe.weight")).data(),
                           e.t(e.blk("attn.lepe.bias")).data(), lepe.data());
    else
        cpu::dwconv(v.data(), c.H, c.W, c.C, 5, e.t(e.blk("attn.lepe.weight")).data(),
                    e.t(e.blk("attn.lepe.bias")).data(), lepe.data());
    cpu::add_inplace(o.data(), lepe.data(), o.size());
    if (!pola)
        cpu::layernorm(o.data(), N, c.C, e.t(e.blk("attn.norm.weight")).data(), e.t(e.blk("attn.norm.bias")).data(),
                       1e-5f, o.data());
    cpu::gate_inplace(o.data(), N, c.C, qkvg.data() + 3 * c.C, 4 * c.C, !pola);
    return o;
}

void op_tail(const OpCase& c, OpEnv& e) {
    const cuda::BlockWeights& b = e.weights.blocks[0];
    const std::vector<float> qkvg = random_qkvg(e, c.C, 23);
    DeviceArray<__half> d_qkvg(qkvg);
    if (c.kind == AttentionKind::Pola)
        ASSERT_EQ(kernels::pola_attention_tail(d_qkvg.get(), 4 * c.C, c.H, c.W, c.C, c.C / c.heads, b.lepe.w,
                                               b.lepe.bias, e.ctx.stream()),
                  cudaSuccess);
    else
        ASSERT_EQ(kernels::nala_attention_tail(d_qkvg.get(), 4 * c.C, c.H, c.W, c.C, b.lepe.w, b.lepe.bias,
                                               b.attn_norm.gamma, b.attn_norm.beta, 1e-5f, e.ctx.stream()),
                  cudaSuccess);
    check(c, "attention tail (u over k)",
          nmse(columns(d_qkvg.download(), e.N, 4 * c.C, c.C, c.C), tail_reference(c, e, qkvg)), kNmseF16Out);
}

void op_pixel_shuffle(const OpCase& c, OpEnv& e) {
    const int s = c.scale, cout = 3 * s * s, ld = e.weights.upsample.cout_pad;
    const std::vector<float> conv = random_floats(e.N * ld, 24);
    DeviceArray<float> d_conv(conv), d_out(e.N * cout);
    // Two calls over the two halves of the tokens, as the network's chunks do.
    const std::int64_t half = std::int64_t(e.N / 2);
    ASSERT_EQ(kernels::pixel_shuffle_add_half(d_conv.get(), ld, 0, int(half), c.W, 3, s, d_out.get(), e.ctx.stream()),
              cudaSuccess);
    ASSERT_EQ(kernels::pixel_shuffle_add_half(d_conv.get() + half * ld, ld, half, int(std::int64_t(e.N) - half), c.W,
                                              3, s, d_out.get(), e.ctx.stream()),
              cudaSuccess);
    std::vector<float> ref(e.N * cout);
    cpu::pixel_shuffle(columns(conv, e.N, ld, 0, cout).data(), c.H, c.W, 3, s, ref.data());
    for (float& v : ref) v += 0.5f;
    check(c, "PixelShuffle + 0.5", nmse(d_out.download(), ref), 1e-14);
}

const std::map<std::string, std::function<void(const OpCase&, OpEnv&)>>& ops() {
    static const std::map<std::string, std::function<void(const OpCase&, OpEnv&)>> table{
        {"conv_first", op_conv_first},   {"conv_accumulate", op_conv_accumulate},
        {"conv_upsample", op_conv_upsample}, {"conv_tokens", op_conv_tokens},
        {"conv_upsample_shuffle", op_conv_upsample_shuffle}, {"linear_f16", op_linear_f16},
        {"linear_accumulate", op_linear_accumulate}, {"cpe_layernorm", op_cpe_layernorm},
        {"ffn_hidden", op_ffn_hidden},   {"nala", op_nala},
        {"pola", op_pola},               {"softmax", op_softmax},
        {"tail", op_tail},               {"pixel_shuffle", op_pixel_shuffle},
    };
    return table;
}

std::vector<OpCase> op_cases() {
    const std::vector<std::pair<int, int>> sizes{{7, 7}, {13, 7}, {63, 13}};
    std::vector<OpCase> cases;
    auto add = [&](const std::string& op, int C, int heads, int scale, AttentionKind kind) {
        for (auto [H, W] : sizes) cases.push_back({op, H, W, C, heads, scale, kind});
    };
    for (const char* op : {"conv_first", "conv_accumulate", "linear_f16", "linear_accumulate", "cpe_layernorm",
                           "ffn_hidden"})
        add(op, 64, 4, 4, AttentionKind::Nala);
    // cpe: C ≤ 128 slides warps down strips of 4 (R = 1) or 2 (R = 2) columns; C = 64 has its own instantiation.
    add("cpe_layernorm", 48, 4, 4, AttentionKind::Nala);   // R = 1, C from the argument: lanes 24-31 idle
    add("cpe_layernorm", 16, 4, 4, AttentionKind::Nala);   // eight lanes
    add("cpe_layernorm", 96, 4, 4, AttentionKind::Nala);   // R = 2: lanes 16-31 idle in the second pair
    add("cpe_layernorm", 128, 4, 4, AttentionKind::Nala);  // R = 2, all lanes
    add("cpe_layernorm", 160, 4, 4, AttentionKind::Nala);  // C > 128: 4×8 tiles; two and a half channel groups per lane
    add("cpe_layernorm", 256, 4, 4, AttentionKind::Nala);  // a 60 KB tile: opts in to more shared memory
    add("cpe_layernorm", 320, 4, 4, AttentionKind::Nala);  // R = 8 tiles, pairs 5-7 idle
    add("ffn_hidden", 96, 4, 4, AttentionKind::Nala);      // 192 hidden channels: two channel runs, one partial
    add("ffn_hidden", 48, 4, 4, AttentionKind::Nala);      // 96 hidden channels: lanes 24-31 idle
    add("ffn_hidden", 16, 4, 4, AttentionKind::Nala);      // 32 hidden channels: eight lanes
    add("conv_upsample", 64, 4, 4, AttentionKind::Nala);
    add("conv_upsample", 32, 4, 3, AttentionKind::Nala);  // 27 output channels, padded to 28
    // The implicit-GEMM convolution (Cin a multiple of 16; 8×16-pixel tiles, 64 output channels per block) at
    // edge shapes: one pixel, fewer pixels than a tile, one row / one column, W and H not multiples of the tile,
    // several tile rows and columns, and a size with more tiles than resident blocks on small GPUs.
    // 5×22: W even but not a multiple of the tile, so with s = 2 the shuffle's 16-byte row stores end mid-tile.
    const std::vector<std::pair<int, int>> edges{{1, 1}, {5, 7}, {1, 37}, {45, 1}, {17, 33}, {9, 16}, {8, 17}, {5, 22}};
    auto add_edges = [&](const std::string& op, int C, int heads, int scale) {
        for (auto [H, W] : edges) cases.push_back({op, H, W, C, heads, scale, AttentionKind::Nala});
    };
    add_edges("conv_accumulate", 64, 4, 4);
    add_edges("conv_tokens", 64, 4, 4);
    add_edges("conv_upsample", 64, 4, 4);        // 48 output channels: warps 4-7 own 16 real channels
    add_edges("conv_upsample_shuffle", 64, 4, 4);
    add_edges("conv_upsample_shuffle", 16, 4, 3);  // 27 channels padded to 28, Cin 16
    add_edges("conv_upsample_shuffle", 32, 4, 2);  // 12 channels
    // FFN: 30-column strips (W 33, 37: a partial second strip), row ranges of at least 16 rows (H 17, 45: a short
    // last range; 181×191: 12 ranges of 7 strips each), H or W = 1; 150×961 (33 strips): ranges taller than 16 rows
    // (8 of 19 rows on a GPU with 132 SMs).
    add_edges("ffn_hidden", 64, 4, 4);
    // cpe strips (4 columns at C = 64, 2 at C = 96): partial strips (W 5, 7, 17, 22, 33, 37), a block's last warps
    // past W, row ranges of at least 16 rows (H 17, 45: a short last range), H or W = 1; 181×191 (6 blocks across,
    // 12 ranges); 150×961 at C = 16 (31 blocks across: ranges of 19 rows on a 132-SM GPU); 540×960, the bench
    // shape (ranges of about 42 rows).
    add_edges("cpe_layernorm", 64, 4, 4);
    add_edges("cpe_layernorm", 96, 4, 4);
    cases.push_back({"cpe_layernorm", 181, 191, 64, 4, 4, AttentionKind::Nala});
    cases.push_back({"cpe_layernorm", 150, 961, 16, 4, 4, AttentionKind::Nala});
    cases.push_back({"cpe_layernorm", 540, 960, 64, 4, 4, AttentionKind::Nala});
    cases.push_back({"ffn_hidden", 181, 191, 64, 4, 4, AttentionKind::Nala});
    cases.push_back({"ffn_hidden", 150, 961, 16, 4, 4, AttentionKind::Nala});
    cases.push_back({"conv_accumulate", 181, 191, 64, 4, 4, AttentionKind::Nala});  // 276 tiles
    cases.push_back({"conv_upsample_shuffle", 181, 191, 64, 4, 4, AttentionKind::Nala});
    for (int C : {16, 32, 48, 128}) add("conv_accumulate", C, 4, 4, AttentionKind::Nala);  // 128: two cout blocks
    add("conv_accumulate", 24, 2, 4, AttentionKind::Nala);  // Cin 24: the im2col + GEMM path
    add("conv_tokens", 48, 4, 4, AttentionKind::Nala);
    add("conv_tokens", 24, 2, 4, AttentionKind::Nala);      // im2col path by token ranges
    add("conv_upsample", 24, 2, 2, AttentionKind::Nala);    // im2col path, 12 output channels
    add("pixel_shuffle", 64, 4, 4, AttentionKind::Nala);
    add("pixel_shuffle", 32, 4, 3, AttentionKind::Nala);
    add("nala", 64, 4, 4, AttentionKind::Nala);   // d = 16
    add("nala", 32, 4, 4, AttentionKind::Nala);   // d = 8
    add("nala", 16, 4, 4, AttentionKind::Nala);   // d = 4, padded to 8
    add("nala", 48, 4, 4, AttentionKind::Nala);   // d = 12, padded to 16
    add("nala", 64, 2, 4, AttentionKind::Nala);   // d = 32
    add("pola", 64, 4, 4, AttentionKind::Pola);
    add("pola", 32, 4, 4, AttentionKind::Pola);
    add("pola", 48, 2, 4, AttentionKind::Pola);   // d = 24, padded to 32
    // Pass 2 puts G heads in a block (all of them while their states fit 16 KB) and 2 tokens per thread up to d = 16:
    add("nala", 48, 3, 4, AttentionKind::Nala);    // G = 3: 85 token slots, one thread idle
    add("nala", 128, 8, 4, AttentionKind::Nala);   // d = 16, G = 4 of 8 heads: two head groups
    add("pola", 48, 4, 4, AttentionKind::Pola);    // d = 12: o's halves split at column 6, 4-byte q/o accesses
    // Token counts below and around one pass-2 tile (64 tokens at d = 16): one token, a lone second token, odd.
    for (auto [H, W] : std::vector<std::pair<int, int>>{{1, 1}, {1, 33}, {5, 13}}) {
        cases.push_back({"nala", H, W, 64, 4, 4, AttentionKind::Nala});
        cases.push_back({"pola", H, W, 64, 4, 4, AttentionKind::Pola});
    }
    cases.push_back({"nala", 1, 1, 64, 2, 4, AttentionKind::Nala});  // d = 32: one token per thread
    // 34,571 tokens: each pass-1 block walks two 64-token chunks (the second staged from loads issued during the
    // first), and the last block holds 11 tokens.
    cases.push_back({"nala", 181, 191, 64, 4, 4, AttentionKind::Nala});
    cases.push_back({"pola", 181, 191, 64, 4, 4, AttentionKind::Pola});
    // Pass 1 on the tensor cores (128-token chunks, 16 tokens per warp, 4 per thread): 257×263 = 67,591 tokens
    // make 265 blocks of two chunks each (the prefetch path), the last with 7 tokens; d = 24 there; W = 1 (every
    // slot of a thread on another row) and H = 2, W = 1000 at d = 8 (16 one-chunk blocks, one across the row end).
    cases.push_back({"nala", 257, 263, 64, 4, 4, AttentionKind::Nala});
    cases.push_back({"pola", 257, 263, 64, 4, 4, AttentionKind::Pola});
    cases.push_back({"pola", 257, 263, 48, 2, 4, AttentionKind::Pola});
    cases.push_back({"nala", 45, 1, 64, 4, 4, AttentionKind::Nala});
    cases.push_back({"pola", 45, 1, 64, 4, 4, AttentionKind::Pola});
    cases.push_back({"nala", 2, 1000, 32, 4, 4, AttentionKind::Nala});
    cases.push_back({"pola", 2, 1000, 32, 4, 4, AttentionKind::Pola});
    add("softmax", 64, 4, 4, AttentionKind::Softmax);
    add("tail", 64, 4, 4, AttentionKind::Nala);
    add("tail", 96, 4, 4, AttentionKind::Nala);
    add("tail", 256, 4, 4, AttentionKind::Nala);  // a 48 KB+ tile
    add("tail", 48, 4, 4, AttentionKind::Nala);   // lanes 24-31 own no channel
    add("tail", 64, 4, 4, AttentionKind::Pola);
    add("tail", 48, 2, 4, AttentionKind::Pola);   // 24 shared filters: a weight row narrower than C
    add("tail", 128, 4, 4, AttentionKind::Pola);  // two channel runs per lane, 32 shared filters
    add("tail", 320, 4, 4, AttentionKind::Nala);  // R = 8 (2-row tiles, 200 KB of shared memory), runs 5-7 idle
    // 8×8-token tiles (R ≤ 2): one row or column, fewer tokens than a tile, partial tiles on either side.
    for (auto [H, W] : edges) {
        cases.push_back({"tail", H, W, 64, 4, 4, AttentionKind::Nala});
        cases.push_back({"tail", H, W, 96, 4, 4, AttentionKind::Pola});
    }
    return cases;
}

class BackendOps : public ::testing::TestWithParam<OpCase> {};

TEST_P(BackendOps, MatchesCpuReference) {
    NALASR_SKIP_WITHOUT_GPU();
    const OpCase& c = GetParam();
    OpEnv env(c);
    ops().at(c.op)(c, env);
}

INSTANTIATE_TEST_SUITE_P(Table, BackendOps, ::testing::ValuesIn(op_cases()),
                         [](const ::testing::TestParamInfo<OpCase>& info) {
                             std::string name = info.param.vars();
                             for (char& ch : name)
                                 if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                             return name + "_" + std::to_string(info.index);
                         });

}  // namespace
}  // namespace nalasr::test
