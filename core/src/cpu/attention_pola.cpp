// Pola attention core (docs/model.md, "Pola", steps 3-6): linear in N, two passes over the tokens.
#include <cmath>
#include <vector>

#include "cpu/linear_attention_state.h"
#include "cpu/ops.h"
#include "cpu/parallel.h"

namespace nalasr::cpu {
namespace {

// relu(x)^p and relu(-x)^p with 0^p = 0.
inline float pos_pow(float x, float p) { return x > 0.0f ? std::pow(x, p) : 0.0f; }

}  // namespace

void pola_attention(const float* qkvg, int H, int W, int C, int heads, const float* power, float* out) {
    const std::size_t N = std::size_t(H) * W;
    const int d = C / heads, half = d / 2;
    std::vector<float> p(C);  // p = 1 + 4·sigmoid(power), one per channel of each head
    for (int c = 0; c < C; ++c) p[c] = 1.0f + 4.0f / (1.0f + std::exp(-power[c]));

    // Pass 1: S = (1/N) Σ φkᵀ v (S₁ | S₂ are its column halves), m = (1/N) Σ φk.
    const std::size_t head_floats = linear_attention::head_state_floats(d);
    Scratch state(head_floats * heads);
    auto key_features = [&](std::size_t, int h, const float* k, float* a, float* b) {
        const float* ph = p.data() + h * d;
        for (int c = 0; c < d; ++c) {
            a[c] = pos_pow(k[c], ph[c]);
            a[d + c] = pos_pow(-k[c], ph[c]);
        }
        std::copy(a, a + 2 * d, b);
    };
    linear_attention::accumulate_state(qkvg, N, C, heads, key_features, state.data());

    // Pass 2: x_sim = φ_sim(q)·S₁ / (φ_sim(q)·m + 1e-6), x_opp = φ_opp(q)·S₂ / (φ_opp(q)·m + 1e-6).
#pragma omp parallel if (N * C * d >= kParallelMinWork)
    {
        std::vector<float> sim(2 * d), opp(2 * d);
#pragma omp for schedule(static)
        for (std::size_t t = 0; t < N; ++t) {
            for (int h = 0; h < heads; ++h) {
                const float* q = qkvg + t * 4 * C + h * d;
                const float* ph = p.data() + h * d;
                for (int c = 0; c < d; ++c) {
                    const float plus = pos_pow(q[c], ph[c]), minus = pos_pow(-q[c], ph[c]);
                    sim[c] = plus;
                    sim[d + c] = minus;
                    opp[c] = minus;
                    opp[d + c] = plus;
                }
                const float* S = state.data() + h * head_floats;
                const float* m = S + 2 * d * d;
                float den_sim = 1e-6f, den_opp = 1e-6f;
                for (int i = 0; i < 2 * d; ++i) {
                    den_sim += sim[i] * m[i];
                    den_opp += opp[i] * m[i];
                }
                float* o = out + t * C + h * d;
                for (int j = 0; j < d; ++j) o[j] = 0.0f;
                for (int i = 0; i < 2 * d; ++i) {
                    const float* row = S + i * d;
                    for (int j = 0; j < half; ++j) {
                        o[j] += sim[i] * row[j];
                        o[half + j] += opp[i] * row[half + j];
                    }
                }
                for (int j = 0; j < half; ++j) {
                    o[j] /= den_sim;
                    o[half + j] /= den_opp;
                }
            }
        }
    }
}

}  // namespace nalasr::cpu
