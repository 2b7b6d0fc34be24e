// CPU ops vs straightforward float64 loops, on odd sizes and random non-zero data.
#include <gtest/gtest.h>

#include <cmath>

#include "cpu/ops.h"
#include "test_util.h"

namespace nalasr {
namespace {

using test::print_error;
using test::random_floats;
using test::rel_l2;

constexpr double kTolerance = 1e-5;

// Reference for dense and depthwise convolutions: weight (Cout, Cin/groups, k, k), zero padding.
std::vector<double> conv_reference(const std::vector<float>& x, int H, int W, int Cin, const std::vector<float>& w,
                                   const std::vector<float>& b, int Cout, int k, bool depthwise) {
    std::vector<double> out(std::size_t(H) * W * Cout);
    const int r = k / 2;
    for (int y = 0; y < H; ++y)
        for (int xx = 0; xx < W; ++xx)
            for (int co = 0; co < Cout; ++co) {
                double acc = b.empty() ? 0.0 : b[co];
                for (int ci = 0; ci < (depthwise ? 1 : Cin); ++ci)
                    for (int ky = 0; ky < k; ++ky)
                        for (int kx = 0; kx < k; ++kx) {
                            const int sy = y + ky - r, sx = xx + kx - r;
                            if (sy < 0 || sy >= H || sx < 0 || sx >= W) continue;
                            const int channel = depthwise ? co : ci;
                            acc += double(x[(std::size_t(sy) * W + sx) * Cin + channel]) *
                                   w[((std::size_t(co) * (depthwise ? 1 : Cin) + ci) * k + ky) * k + kx];
                        }
                out[(std::size_t(y) * W + xx) * Cout + co] = acc;
            }
    return out;
}

struct ConvCase {
    int H, W, Cin, Cout;
};

TEST(CpuOps, Conv3x3MatchesFloat64) {
    for (const ConvCase& c : {ConvCase{7, 13, 3, 16}, ConvCase{13, 5, 24, 27}, ConvCase{1, 9, 5, 3},
                              ConvCase{9, 1, 8, 8}, ConvCase{40, 37, 64, 48}}) {
        const auto x = random_floats(std::size_t(c.H) * c.W * c.Cin, 1);
        const auto w = random_floats(std::size_t(c.Cout) * c.Cin * 9, 2);
        const auto b = random_floats(c.Cout, 3);
        std::vector<float> out(std::size_t(c.H) * c.W * c.Cout);
        cpu::conv3x3(x.data(), c.H, c.W, c.Cin, w.data(), b.data(), c.Cout, out.data());
        const double err = rel_l2(out, conv_reference(x, c.H, c.W, c.Cin, w, b, c.Cout, 3, false));
        print_error("conv3x3 " + std::to_string(c.H) + "x" + std::to_string(c.W) + " " + std::to_string(c.Cin) +
                        "->" + std::to_string(c.Cout), err);
        EXPECT_LE(err, kTolerance);
    }
}

TEST(CpuOps, Conv3x3WithoutBias) {
    const int H = 6, W = 11, Cin = 5, Cout = 7;
    const auto x = random_floats(std::size_t(H) * W * Cin, 4);
    const auto w = random_floats(std::size_t(Cout) * Cin * 9, 5);
    std::vector<float> out(std::size_t(H) * W * Cout);
    cpu::conv3x3(x.data(), H, W, Cin, w.data(), nullptr, Cout, out.data());
    const double err = rel_l2(out, conv_reference(x, H, W, Cin, w, {}, Cout, 3, false));
    print_error("conv3x3 no bias", err);
    EXPECT_LE(err, kTolerance);
}

TEST(CpuOps, DepthwiseConvMatchesFloat64) {
    for (int k : {3, 5}) {
        for (bool add_input : {false, true}) {
            const int H = 7, W = 13, C = 19;
            const auto x = random_floats(std::size_t(H) * W * C, 10 + k);
            const auto w = random_floats(std::size_t(C) * k * k, 20 + k);
            const auto b = random_floats(C, 30 + k);
            std::vector<float> out(x.size());
            cpu::dwconv(x.data(), H, W, C, k, w.data(), b.data(), out.data(), add_input);
            auto want = conv_reference(x, H, W, C, w, b, C, k, true);
            if (add_input)
                for (std::size_t i = 0; i < want.size(); ++i) want[i] += x[i];
            const double err = rel_l2(out, want);
            print_error("dwconv k=" + std::to_string(k) + (add_input ? " +input" : ""), err);
            EXPECT_LE(err, kTolerance);
        }
    }
}

TEST(CpuOps, SharedDepthwiseConvMatchesFloat64) {
    const int H = 13, W = 5, group = 12, C = 36, k = 5;
    const auto x = random_floats(std::size_t(H) * W * C, 40);
    const auto w = random_floats(std::size_t(group) * k * k, 41);
    const auto b = random_floats(group, 42);
    std::vector<float> full_w(std::size_t(C) * k * k), full_b(C);  // the same filters repeated per head
    for (int c = 0; c < C; ++c) {
        for (int t = 0; t < k * k; ++t) full_w[std::size_t(c) * k * k + t] = w[std::size_t(c % group) * k * k + t];
        full_b[c] = b[c % group];
    }
    std::vector<float> out(x.size());
    cpu::dwconv_shared(x.data(), H, W, C, group, k, w.data(), b.data(), out.data());
    const double err = rel_l2(out, conv_reference(x, H, W, C, full_w, full_b, C, k, true));
    print_error("dwconv_shared 13x5 C=36 group=12", err);
    EXPECT_LE(err, kTolerance);
}

TEST(CpuOps, LinearMatchesFloat64WithRowStride) {
    const std::size_t N = 91, stride = 29;
    const int Cin = 17, Cout = 23;
    const auto x = random_floats(N * stride, 50);
    const auto w = random_floats(std::size_t(Cout) * Cin, 51);
    const auto b = random_floats(Cout, 52);
    std::vector<float> out(N * Cout);
    cpu::linear(x.data() + 3, N, Cin, stride, w.data(), b.data(), Cout, out.data());
    std::vector<double> want(N * Cout);
    for (std::size_t t = 0; t < N; ++t)
        for (int o = 0; o < Cout; ++o) {
            double acc = b[o];
            for (int i = 0; i < Cin; ++i) acc += double(x[t * stride + 3 + i]) * w[std::size_t(o) * Cin + i];
            want[t * Cout + o] = acc;
        }
    const double err = rel_l2(out, want);
    print_error("linear 91 tokens 17->23, stride 29", err);
    EXPECT_LE(err, kTolerance);
}

TEST(CpuOps, LayerNormMatchesFloat64InPlace) {
    const std::size_t N = 37;
    const int C = 27;
    auto x = random_floats(N * C, 60, -2.0f, 3.0f);
    const auto gamma = random_floats(C, 61, 0.5f, 1.5f), beta = random_floats(C, 62);
    std::vector<double> want(N * C);
    for (std::size_t t = 0; t < N; ++t) {
        double mean = 0, var = 0;
        for (int c = 0; c < C; ++c) mean += x[t * C + c];
        mean /= C;
        for (int c = 0; c < C; ++c) var += (x[t * C + c] - mean) * (x[t * C + c] - mean);
        var /= C;
        for (int c = 0; c < C; ++c)
            want[t * C + c] = (x[t * C + c] - mean) / std::sqrt(var + 1e-5) * gamma[c] + beta[c];
    }
    cpu::layernorm(x.data(), N, C, gamma.data(), beta.data(), 1e-5f, x.data());
    const double err = rel_l2(x, want);
    print_error("layernorm 37x27 in place", err);
    EXPECT_LE(err, kTolerance);
}

TEST(CpuOps, ActivationsMatchFloat64) {
    const auto x = random_floats(1001, 70, -6.0f, 6.0f);
    auto gelu = x, silu = x;
    cpu::gelu_inplace(gelu.data(), gelu.size());
    cpu::silu_inplace(silu.data(), silu.size());
    std::vector<double> want_gelu(x.size()), want_silu(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
        const double v = x[i];
        want_gelu[i] = 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0)));
        want_silu[i] = v / (1.0 + std::exp(-v));
    }
    const double err_gelu = rel_l2(gelu, want_gelu), err_silu = rel_l2(silu, want_silu);
    print_error("gelu (erf)", err_gelu);
    print_error("silu", err_silu);
    EXPECT_LE(err_gelu, kTolerance);
    EXPECT_LE(err_silu, kTolerance);
}

TEST(CpuOps, PixelShuffleMatchesTorchOrder) {
    for (int s : {2, 3, 4}) {
        const int H = 5, W = 7, Cout = 3;
        const auto x = random_floats(std::size_t(H) * W * Cout * s * s, 80 + s);
        std::vector<float> out(x.size());
        cpu::pixel_shuffle(x.data(), H, W, Cout, s, out.data());
        // torch: out[c, y*s+i, x*s+j] = in[c*s*s + i*s + j, y, x]
        std::size_t mismatches = 0;
        for (int y = 0; y < H * s; ++y)
            for (int xx = 0; xx < W * s; ++xx)
                for (int c = 0; c < Cout; ++c) {
                    const int in_c = c * s * s + (y % s) * s + (xx % s);
                    const float want = x[(std::size_t(y / s) * W + xx / s) * Cout * s * s + in_c];
                    mismatches += out[(std::size_t(y) * W * s + xx) * Cout + c] != want;
                }
        EXPECT_EQ(mismatches, 0u) << "scale " << s;
    }
}

TEST(CpuOps, ChannelHelpers) {
    const std::size_t N = 11;
    const int C = 6;
    auto qkvg = random_floats(N * 4 * C, 90);
    const auto original = qkvg;
    std::vector<float> v(N * C);
    cpu::gather_channels(qkvg.data() + 2 * C, N, 4 * C, C, v.data());
    for (std::size_t t = 0; t < N; ++t)
        for (int c = 0; c < C; ++c) ASSERT_EQ(v[t * C + c], qkvg[t * 4 * C + 2 * C + c]);

    auto x = random_floats(N * C, 91);
    auto gated = x, silu_gated = x;
    cpu::gate_inplace(gated.data(), N, C, qkvg.data() + 3 * C, 4 * C, false);
    cpu::gate_inplace(silu_gated.data(), N, C, qkvg.data() + 3 * C, 4 * C, true);
    std::vector<double> want(N * C), want_silu(N * C);
    for (std::size_t t = 0; t < N; ++t)
        for (int c = 0; c < C; ++c) {
            const double g = qkvg[t * 4 * C + 3 * C + c];
            want[t * C + c] = x[t * C + c] * g;
            want_silu[t * C + c] = x[t * C + c] * g / (1.0 + std::exp(-g));
        }
    EXPECT_LE(rel_l2(gated, want), kTolerance);
    EXPECT_LE(rel_l2(silu_gated, want_silu), kTolerance);

    const auto k_biased = random_floats(N * C, 92);
    const auto sigma = random_floats(C, 93, 0.5f, 2.0f);
    cpu::pola_scale_qk(qkvg.data(), N, C, k_biased.data(), sigma.data());
    std::vector<double> want_qk(N * 4 * C);
    for (std::size_t t = 0; t < N; ++t)
        for (int c = 0; c < 4 * C; ++c) {
            double value = original[t * 4 * C + c];
            if (c < C) value /= sigma[c];
            else if (c < 2 * C) value = double(k_biased[t * C + c - C]) / sigma[c - C];
            want_qk[t * 4 * C + c] = value;
        }
    const double err = rel_l2(qkvg, want_qk);
    print_error("pola_scale_qk", err);
    EXPECT_LE(err, kTolerance);
}

}  // namespace
}  // namespace nalasr
