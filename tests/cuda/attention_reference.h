// Float64 references of the NaLa and Pola attention cores, straight from docs/model.md, for the CUDA kernel
// tests (the 1e-2 relative-error bound of the fused kernels is taken against these).
#pragma once

#include <cmath>
#include <cstddef>
#include <vector>

namespace nalasr::test {

// qkvg (N, 4C) row-major; returns o (N, C).
inline std::vector<double> nala_reference_f64(const std::vector<float>& qkvg, int H, int W, int C, int heads) {
    const std::size_t N = std::size_t(H) * W;
    const int d = C / heads, quarter = d / 4;
    std::vector<double> out(N * C);
    auto rotate = [&](std::vector<double>& f, std::size_t t) {
        const double y = double(t / W), x = double(t % W);
        for (int half = 0; half < 2; ++half)
            for (int c = 0; c < d; c += 2) {
                const int j = (c < d / 2 ? c : c - d / 2) / 2;
                const double omega = quarter == 1 ? 1.0 : std::pow(10000.0, -double(j) / (quarter - 1));
                const double theta = (c < d / 2 ? y : x) * omega;
                const double a = f[half * d + c], b = f[half * d + c + 1];
                f[half * d + c] = a * std::cos(theta) - b * std::sin(theta);
                f[half * d + c + 1] = a * std::sin(theta) + b * std::cos(theta);
            }
    };
    for (int h = 0; h < heads; ++h) {
        std::vector<double> S(2 * d * d, 0.0), m(2 * d, 0.0), f(2 * d);
        for (std::size_t t = 0; t < N; ++t) {
            const float* k = &qkvg[t * 4 * C + C + h * d];
            const float* v = &qkvg[t * 4 * C + 2 * C + h * d];
            for (int c = 0; c < d; ++c) {
                const double k3 = double(k[c]) * k[c] * k[c];
                f[c] = std::max(k3, 0.0);
                f[d + c] = std::max(-k3, 0.0);
            }
            for (int i = 0; i < 2 * d; ++i) m[i] += f[i] / double(N);
            rotate(f, t);
            for (int i = 0; i < 2 * d; ++i)
                for (int j = 0; j < d; ++j) S[i * d + j] += f[i] * v[j] / double(N);
        }
        for (std::size_t t = 0; t < N; ++t) {
            const float* q = &qkvg[t * 4 * C + h * d];
            double n = 0;
            for (int c = 0; c < d; ++c) n += double(q[c]) * q[c];
            n = std::sqrt(n) + 1e-6;
            const double p = 3.0 * (0.5 + std::tanh(n));
            for (int c = 0; c < d; ++c) {
                f[c] = q[c] > 0 ? std::pow(q[c] / n, p) : 0.0;
                f[d + c] = q[c] < 0 ? std::pow(-q[c] / n, p) : 0.0;
            }
            double den = 1e-6;
            for (int i = 0; i < 2 * d; ++i) den += f[i] * m[i];
            rotate(f, t);
            for (int j = 0; j < d; ++j) {
                double num = 0;
                for (int i = 0; i < 2 * d; ++i) num += f[i] * S[i * d + j];
                out[t * C + h * d + j] = num / den;
            }
        }
    }
    return out;
}

// Pola steps 3-6 on qkvg (N, 4C) whose q and k are already divided by σ (and k position-biased);
// power (heads, d) is the raw parameter. Returns [x_sim, x_opp] per head, (N, C).
inline std::vector<double> pola_reference_f64(const std::vector<float>& qkvg, int H, int W, int C, int heads,
                                              const std::vector<float>& power) {
    const std::size_t N = std::size_t(H) * W;
    const int d = C / heads, hd = d / 2;
    std::vector<double> out(N * C);
    auto pw = [](double x, double p) { return x > 0 ? std::pow(x, p) : 0.0; };
    for (int h = 0; h < heads; ++h) {
        std::vector<double> p(d), S(2 * d * d, 0.0), m(2 * d, 0.0), f(2 * d);
        for (int c = 0; c < d; ++c) p[c] = 1.0 + 4.0 / (1.0 + std::exp(-double(power[h * d + c])));
        for (std::size_t t = 0; t < N; ++t) {
            const float* k = &qkvg[t * 4 * C + C + h * d];
            const float* v = &qkvg[t * 4 * C + 2 * C + h * d];
            for (int c = 0; c < d; ++c) f[c] = pw(k[c], p[c]), f[d + c] = pw(-k[c], p[c]);
            for (int i = 0; i < 2 * d; ++i) {
                m[i] += f[i] / double(N);
                for (int j = 0; j < d; ++j) S[i * d + j] += f[i] * v[j] / double(N);
            }
        }
        for (std::size_t t = 0; t < N; ++t) {
            const float* q = &qkvg[t * 4 * C + h * d];
            std::vector<double> sim(2 * d), opp(2 * d);
            for (int c = 0; c < d; ++c) {
                const double plus = pw(q[c], p[c]), minus = pw(-q[c], p[c]);
                sim[c] = plus, sim[d + c] = minus, opp[c] = minus, opp[d + c] = plus;
            }
            double den_sim = 1e-6, den_opp = 1e-6;
            for (int i = 0; i < 2 * d; ++i) den_sim += sim[i] * m[i], den_opp += opp[i] * m[i];
            for (int j = 0; j < hd; ++j) {
                double a = 0, b = 0;
                for (int i = 0; i < 2 * d; ++i) a += sim[i] * S[i * d + j], b += opp[i] * S[i * d + hd + j];
                out[t * C + h * d + j] = a / den_sim;
                out[t * C + h * d + hd + j] = b / den_opp;
            }
        }
    }
    return out;
}

}  // namespace nalasr::test
