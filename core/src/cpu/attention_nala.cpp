// NaLa attention core (docs/model.md, "NaLa", steps 1-5): linear in N, two passes over the tokens.
#include <cmath>
#include <vector>

#include "cpu/linear_attention_state.h"
#include "cpu/ops.h"
#include "cpu/parallel.h"

namespace nalasr::cpu {
namespace {

// cos/sin of pos·ω_j for every position 0..count-1 and pair j = 0..d/4-1, laid out [pos][j].
struct RopeTable {
    std::vector<float> cos, sin;
};

RopeTable rope_table(int count, int d) {
    const int pairs = d / 4;
    RopeTable table{std::vector<float>(std::size_t(count) * pairs), std::vector<float>(std::size_t(count) * pairs)};
    for (int j = 0; j < pairs; ++j) {
        // ω_j = 10000^(-j/(d/4-1)); with a single pair (d = 4) the exponent is 0/0 and we take ω_0 = 1.
        const double omega = pairs > 1 ? std::pow(10000.0, -double(j) / double(pairs - 1)) : 1.0;
        for (int pos = 0; pos < count; ++pos) {
            const double theta = double(pos) * omega;  // double: positions reach thousands of radians
            table.cos[std::size_t(pos) * pairs + j] = float(std::cos(theta));
            table.sin[std::size_t(pos) * pairs + j] = float(std::sin(theta));
        }
    }
    return table;
}

// Rotates a 2d-wide feature map in place: in each d-wide half, channels 0..d/2-1 by the row angles and
// d/2..d-1 by the column angles, as adjacent pairs.
void rotate(float* f, int d, const float* row_cos, const float* row_sin, const float* col_cos, const float* col_sin) {
    const int pairs = d / 4;
    for (int half = 0; half < 2; ++half) {
        for (int quarter = 0; quarter < 2; ++quarter) {
            float* q = f + half * d + quarter * (d / 2);
            const float* cs = quarter == 0 ? row_cos : col_cos;
            const float* sn = quarter == 0 ? row_sin : col_sin;
            for (int j = 0; j < pairs; ++j) {
                const float a = q[2 * j], b = q[2 * j + 1];
                q[2 * j] = a * cs[j] - b * sn[j];
                q[2 * j + 1] = a * sn[j] + b * cs[j];
            }
        }
    }
}

}  // namespace

void nala_attention(const float* qkvg, int H, int W, int C, int heads, float* out) {
    const std::size_t N = std::size_t(H) * W;
    const int d = C / heads, pairs = d / 4;
    const RopeTable rows = rope_table(H, d), cols = rope_table(W, d);
    auto angles = [&](std::size_t t, const float** rc, const float** rs, const float** cc, const float** cs) {
        const std::size_t y = t / W, x = t % W;
        *rc = rows.cos.data() + y * pairs;
        *rs = rows.sin.data() + y * pairs;
        *cc = cols.cos.data() + x * pairs;
        *cs = cols.sin.data() + x * pairs;
    };

    // Pass 1: S = (1/N) Σ φ̃kᵀ v, m = (1/N) Σ φk.
    const std::size_t head_floats = linear_attention::head_state_floats(d);
    Scratch state(head_floats * heads);
    auto key_features = [&](std::size_t t, int, const float* k, float* rotated, float* plain) {
        for (int c = 0; c < d; ++c) {
            const float k3 = k[c] * k[c] * k[c];
            plain[c] = k3 > 0.0f ? k3 : 0.0f;
            plain[d + c] = k3 < 0.0f ? -k3 : 0.0f;
        }
        std::copy(plain, plain + 2 * d, rotated);
        const float *rc, *rs, *cc, *cs;
        angles(t, &rc, &rs, &cc, &cs);
        rotate(rotated, d, rc, rs, cc, cs);
    };
    linear_attention::accumulate_state(qkvg, N, C, heads, key_features, state.data());

    // Pass 2: o = (φ̃q · S) / (φq · m + 1e-6).
#pragma omp parallel if (N * C * d >= kParallelMinWork)
    {
        std::vector<float> phi(2 * d), rotated(2 * d);
#pragma omp for schedule(static)
        for (std::size_t t = 0; t < N; ++t) {
            const float *rc, *rs, *cc, *cs;
            angles(t, &rc, &rs, &cc, &cs);
            for (int h = 0; h < heads; ++h) {
                const float* q = qkvg + t * 4 * C + h * d;
                float norm2 = 0.0f;
                for (int c = 0; c < d; ++c) norm2 += q[c] * q[c];
                const float n = std::sqrt(norm2) + 1e-6f;
                const float p = 3.0f * (0.5f + std::tanh(n));
                for (int c = 0; c < d; ++c) {
                    // 0^p = 0: the zero branch never reaches pow.
                    phi[c] = q[c] > 0.0f ? std::pow(q[c] / n, p) : 0.0f;
                    phi[d + c] = q[c] < 0.0f ? std::pow(-q[c] / n, p) : 0.0f;
                }
                const float* S = state.data() + h * head_floats;
                const float* m = S + 2 * d * d;
                float denominator = 1e-6f;
                for (int i = 0; i < 2 * d; ++i) denominator += phi[i] * m[i];
                std::copy(phi.begin(), phi.end(), rotated.begin());
                rotate(rotated.data(), d, rc, rs, cc, cs);
                float* o = out + t * C + h * d;
                for (int j = 0; j < d; ++j) o[j] = 0.0f;
                for (int i = 0; i < 2 * d; ++i) {
                    const float ri = rotated[i];
                    const float* row = S + i * d;
                    for (int j = 0; j < d; ++j) o[j] += ri * row[j];
                }
                const float inv = 1.0f / denominator;
                for (int j = 0; j < d; ++j) o[j] *= inv;
            }
        }
    }
}

}  // namespace nalasr::cpu
