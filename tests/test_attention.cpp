// Attention cores vs direct O(N²) float64 evaluations of the formulas in docs/model.md. For NaLa and Pola the
// reference sums pairwise query·key products over all token pairs, so agreement proves the linear reordering
// (state S and mean key accumulated once) computes the same thing.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "cpu/ops.h"
#include "nalasr/model.h"
#include "test_util.h"

namespace nalasr {
namespace {

using test::print_error;
using test::random_floats;
using test::rel_l2;

constexpr double kTolerance = 1e-5;

// The rotated copy of a 2d-wide map: per d-wide half, first d/2 channels by the row, last d/2 by the column.
std::vector<double> rope(const std::vector<double>& f, int d, int y, int x) {
    std::vector<double> r = f;
    const int pairs = d / 4;
    for (int half = 0; half < 2; ++half)
        for (int quarter = 0; quarter < 2; ++quarter)
            for (int j = 0; j < pairs; ++j) {
                const double omega = pairs > 1 ? std::pow(10000.0, -double(j) / (pairs - 1)) : 1.0;
                const double theta = (quarter == 0 ? y : x) * omega;
                const int i = half * d + quarter * (d / 2) + 2 * j;
                r[i] = f[i] * std::cos(theta) - f[i + 1] * std::sin(theta);
                r[i + 1] = f[i] * std::sin(theta) + f[i + 1] * std::cos(theta);
            }
    return r;
}

double dot(const std::vector<double>& a, const std::vector<double>& b) {
    double s = 0;
    for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
    return s;
}

std::vector<double> nala_reference(const std::vector<float>& qkvg, int H, int W, int C, int heads) {
    const int N = H * W, d = C / heads;
    std::vector<double> out(std::size_t(N) * C);
    for (int h = 0; h < heads; ++h) {
        std::vector<std::vector<double>> phi_k(N), rot_k(N);
        for (int t = 0; t < N; ++t) {
            phi_k[t].assign(2 * d, 0.0);
            for (int c = 0; c < d; ++c) {
                const double k = qkvg[std::size_t(t) * 4 * C + C + h * d + c], k3 = k * k * k;
                phi_k[t][c] = std::max(k3, 0.0);
                phi_k[t][d + c] = std::max(-k3, 0.0);
            }
            rot_k[t] = rope(phi_k[t], d, t / W, t % W);
        }
        for (int i = 0; i < N; ++i) {
            const float* q = qkvg.data() + std::size_t(i) * 4 * C + h * d;
            double n = 0;
            for (int c = 0; c < d; ++c) n += double(q[c]) * q[c];
            n = std::sqrt(n) + 1e-6;
            const double p = 3.0 * (0.5 + std::tanh(n));
            std::vector<double> phi_q(2 * d, 0.0);
            for (int c = 0; c < d; ++c) {
                if (q[c] > 0) phi_q[c] = std::pow(q[c] / n, p);
                if (q[c] < 0) phi_q[d + c] = std::pow(-q[c] / n, p);
            }
            const auto rot_q = rope(phi_q, d, i / W, i % W);
            std::vector<double> num(d, 0.0);
            double den = 0;
            for (int j = 0; j < N; ++j) {
                const double a = dot(rot_q, rot_k[j]) / N;
                const float* v = qkvg.data() + std::size_t(j) * 4 * C + 2 * C + h * d;
                for (int c = 0; c < d; ++c) num[c] += a * v[c];
                den += dot(phi_q, phi_k[j]) / N;
            }
            for (int c = 0; c < d; ++c) out[std::size_t(i) * C + h * d + c] = num[c] / (den + 1e-6);
        }
    }
    return out;
}

std::vector<double> pola_reference(const std::vector<float>& qkvg, int H, int W, int C, int heads,
                                   const std::vector<float>& power) {
    const int N = H * W, d = C / heads, half = d / 2;
    std::vector<double> out(std::size_t(N) * C);
    auto pw = [](double x, double p) { return x > 0 ? std::pow(x, p) : 0.0; };
    for (int h = 0; h < heads; ++h) {
        std::vector<double> p(d);
        for (int c = 0; c < d; ++c) p[c] = 1.0 + 4.0 / (1.0 + std::exp(-double(power[h * d + c])));
        std::vector<std::vector<double>> phi_k(N);
        for (int t = 0; t < N; ++t) {
            phi_k[t].assign(2 * d, 0.0);
            for (int c = 0; c < d; ++c) {
                const double k = qkvg[std::size_t(t) * 4 * C + C + h * d + c];
                phi_k[t][c] = pw(k, p[c]);
                phi_k[t][d + c] = pw(-k, p[c]);
            }
        }
        for (int i = 0; i < N; ++i) {
            std::vector<double> sim(2 * d), opp(2 * d);
            for (int c = 0; c < d; ++c) {
                const double q = qkvg[std::size_t(i) * 4 * C + h * d + c];
                sim[c] = opp[d + c] = pw(q, p[c]);
                sim[d + c] = opp[c] = pw(-q, p[c]);
            }
            std::vector<double> num(d, 0.0);
            double den_sim = 0, den_opp = 0;
            for (int j = 0; j < N; ++j) {
                const double a_sim = dot(sim, phi_k[j]) / N, a_opp = dot(opp, phi_k[j]) / N;
                const float* v = qkvg.data() + std::size_t(j) * 4 * C + 2 * C + h * d;
                for (int c = 0; c < half; ++c) {
                    num[c] += a_sim * v[c];
                    num[half + c] += a_opp * v[half + c];
                }
                den_sim += a_sim;
                den_opp += a_opp;
            }
            for (int c = 0; c < half; ++c) {
                out[std::size_t(i) * C + h * d + c] = num[c] / (den_sim + 1e-6);
                out[std::size_t(i) * C + h * d + half + c] = num[half + c] / (den_opp + 1e-6);
            }
        }
    }
    return out;
}

std::vector<double> softmax_reference(const std::vector<float>& qkvg, int N, int C, int heads) {
    const int d = C / heads;
    std::vector<double> out(std::size_t(N) * C);
    for (int h = 0; h < heads; ++h)
        for (int i = 0; i < N; ++i) {
            std::vector<double> s(N);
            for (int j = 0; j < N; ++j) {
                double acc = 0;
                for (int c = 0; c < d; ++c)
                    acc += double(qkvg[std::size_t(i) * 4 * C + h * d + c]) * qkvg[std::size_t(j) * 4 * C + C + h * d + c];
                s[j] = acc / std::sqrt(double(d));
            }
            const double max = *std::max_element(s.begin(), s.end());
            double sum = 0;
            for (double& x : s) sum += (x = std::exp(x - max));
            for (int c = 0; c < d; ++c) {
                double acc = 0;
                for (int j = 0; j < N; ++j) acc += s[j] * qkvg[std::size_t(j) * 4 * C + 2 * C + h * d + c];
                out[std::size_t(i) * C + h * d + c] = acc / sum;
            }
        }
    return out;
}

struct Shape {
    int H, W, C, heads;
};

std::string describe(const char* kind, const Shape& s) {
    return std::string(kind) + " " + std::to_string(s.H) + "x" + std::to_string(s.W) + " C=" + std::to_string(s.C) +
           " heads=" + std::to_string(s.heads);
}

// 37×41 = 1517 tokens spans two accumulation chunks; d = 4 exercises the single-RoPE-pair case.
const Shape kShapes[] = {{7, 13, 16, 2}, {13, 5, 24, 2}, {5, 3, 8, 2}, {37, 41, 32, 4}};

TEST(Attention, NalaMatchesQuadraticFloat64) {
    for (const Shape& s : kShapes) {
        const auto qkvg = random_floats(std::size_t(s.H) * s.W * 4 * s.C, 100 + s.C, -1.5f, 1.5f);
        std::vector<float> out(std::size_t(s.H) * s.W * s.C);
        cpu::nala_attention(qkvg.data(), s.H, s.W, s.C, s.heads, out.data());
        const double err = rel_l2(out, nala_reference(qkvg, s.H, s.W, s.C, s.heads));
        print_error(describe("nala", s), err);
        EXPECT_LE(err, kTolerance);
    }
}

TEST(Attention, PolaMatchesQuadraticFloat64) {
    for (const Shape& s : kShapes) {
        const auto qkvg = random_floats(std::size_t(s.H) * s.W * 4 * s.C, 200 + s.C, -1.5f, 1.5f);
        const auto power = random_floats(std::size_t(s.C), 300 + s.C);  // (heads, d)
        std::vector<float> out(std::size_t(s.H) * s.W * s.C);
        cpu::pola_attention(qkvg.data(), s.H, s.W, s.C, s.heads, power.data(), out.data());
        const double err = rel_l2(out, pola_reference(qkvg, s.H, s.W, s.C, s.heads, power));
        print_error(describe("pola", s), err);
        EXPECT_LE(err, kTolerance);
    }
}

TEST(Attention, SoftmaxMatchesFloat64) {
    for (const Shape& s : kShapes) {
        const auto qkvg = random_floats(std::size_t(s.H) * s.W * 4 * s.C, 400 + s.C, -2.0f, 2.0f);
        std::vector<float> out(std::size_t(s.H) * s.W * s.C);
        cpu::softmax_attention(qkvg.data(), s.H, s.W, s.C, s.heads, out.data());
        const double err = rel_l2(out, softmax_reference(qkvg, s.H * s.W, s.C, s.heads));
        print_error(describe("softmax", s), err);
        EXPECT_LE(err, kTolerance);
    }
}

// A token whose query is exactly zero: ‖q‖ = 0, φq = 0^p = 0 → output 0, never NaN.
TEST(Attention, ZeroQueryTokenGivesZeroNotNaN) {
    const int H = 5, W = 7, C = 16, heads = 2;
    auto qkvg = random_floats(std::size_t(H) * W * 4 * C, 500);
    std::fill(qkvg.begin() + 4 * 4 * C, qkvg.begin() + 4 * 4 * C + C, 0.0f);  // q of token 4, all heads
    std::fill(qkvg.begin() + 9 * 4 * C + C, qkvg.begin() + 9 * 4 * C + 2 * C, 0.0f);  // k of token 9
    const std::vector<float> power(C, 0.3f);
    for (int kind = 0; kind < 2; ++kind) {
        std::vector<float> out(std::size_t(H) * W * C);
        if (kind == 0) cpu::nala_attention(qkvg.data(), H, W, C, heads, out.data());
        else cpu::pola_attention(qkvg.data(), H, W, C, heads, power.data(), out.data());
        for (float v : out) ASSERT_TRUE(std::isfinite(v)) << (kind == 0 ? "nala" : "pola");
        for (int c = 0; c < C; ++c) EXPECT_EQ(out[4 * C + c], 0.0f) << (kind == 0 ? "nala" : "pola");
    }
}

// The reduction order depends only on N, so two runs are bit-identical.
TEST(Attention, LinearAttentionIsDeterministic) {
    const int H = 40, W = 60, C = 16, heads = 4;
    const auto qkvg = random_floats(std::size_t(H) * W * 4 * C, 600);
    std::vector<float> a(std::size_t(H) * W * C), b(a.size());
    cpu::nala_attention(qkvg.data(), H, W, C, heads, a.data());
    cpu::nala_attention(qkvg.data(), H, W, C, heads, b.data());
    EXPECT_EQ(a, b);
}

}  // namespace
}  // namespace nalasr
