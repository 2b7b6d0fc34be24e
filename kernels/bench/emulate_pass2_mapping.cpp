// CPU check of NaLa/Pola pass 2's block/thread mapping (docs/cuda_notes.md, run 7), in float64: the blocks of
// G heads, the 2-tokens-per-thread slots, the per-head state stride, Pola's column swap of S and the pair-by-pair
// coefficients, against the former one-thread-per-(token, head) formulas, over the op table's NaLa/Pola shapes.
// Every output must be written exactly once and match to rounding. Not part of the build:
//
//   g++ -O2 kernels/bench/emulate_pass2_mapping.cpp -o /tmp/emulate_pass2 && /tmp/emulate_pass2
//
// Keep the constants and index expressions in step with pass2_kernel in kernels/linear_attention.cu.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>
constexpr int kThreads = 256, kStateFloats = 4096;
int entries(int DM) { return 2 * DM * DM + 2 * DM; }
int stride(int DM) { return entries(DM) + 4; }
int padded(int d) { return d <= 8 ? 8 : d <= 16 ? 16 : 32; }
int tokens_per_thread(int DM) { return DM <= 16 ? 2 : 1; }
int group_heads(int heads, int DM) {
    const int most = std::min(kStateFloats / stride(DM), kThreads);
    for (int g = std::min(heads, most); g > 1; --g)
        if (heads % g == 0)
            return g;
    return 1;
}
struct Case {
    int H, W, C, heads;
    bool pola;
};
double splitp(double x, double p, bool pos) {
    return pos ? (x > 0 ? std::pow(x, p) : 0) : (x < 0 ? std::pow(-x, p) : 0);
}
int main() {
    std::mt19937 rng(1);
    std::uniform_real_distribution<double> U(-1, 1);
    std::vector<Case> cases{{7, 7, 64, 4, 0},   {1, 1, 64, 4, 0},   {1, 33, 64, 4, 1}, {5, 13, 64, 4, 0},
                            {63, 13, 48, 3, 0}, {13, 7, 128, 8, 1}, {7, 7, 48, 4, 1},  {7, 7, 16, 4, 0},
                            {13, 7, 64, 2, 1},  {1, 1, 64, 2, 0},   {13, 7, 48, 2, 1}, {181, 191, 64, 4, 1},
                            {7, 7, 32, 4, 1}};
    int bad = 0;
    for (const Case& cs : cases) {
        const int d = cs.C / cs.heads, DM = padded(d), N = cs.H * cs.W, half = d / 2, q4 = d / 4;
        const long ld = 4 * cs.C;
        std::vector<double> q(N * ld), state(cs.heads * entries(DM), 0.0), rows(cs.H * q4 * 2), cols(cs.W * q4 * 2);
        for (auto& v : q)
            v = U(rng);
        for (auto& v : rows)
            v = U(rng);
        for (auto& v : cols)
            v = U(rng);
        std::vector<double> sig(cs.C), pw(cs.C);
        for (int i = 0; i < cs.C; ++i)
            sig[i] = 0.5 + 0.5 * (U(rng) + 1), pw[i] = 1 + 2 * (U(rng) + 1);
        for (int h = 0; h < cs.heads; ++h)
            for (int i = 0; i < 2 * DM; ++i)
                for (int j = 0; j < DM; ++j) {
                    const bool real = i % DM < d && j < d;
                    state[h * entries(DM) + i * DM + j] = real ? U(rng) : 0.0;
                }
        for (int h = 0; h < cs.heads; ++h)
            for (int i = 0; i < 2 * DM; ++i)
                state[h * entries(DM) + 2 * DM * DM + i] = i % DM < d ? U(rng) + 1.5 : 0.0;
        auto rope = [&](int c, int y, int x, double& co, double& si) {
            const double* t = c < d / 2 ? &rows[(y * q4 + c / 2) * 2] : &cols[(x * q4 + (c - d / 2) / 2) * 2];
            co = t[0], si = t[1];
        };
        // Old formulas (per token and head).
        std::vector<double> ref(N * cs.C);
        for (int t = 0; t < N; ++t)
            for (int h = 0; h < cs.heads; ++h) {
                const double* S = &state[h * entries(DM)];
                const double* m = S + 2 * DM * DM;
                const double* qq = &q[t * ld + h * d];
                double o[32] = {};
                if (!cs.pola) {
                    double sq = 0;
                    for (int c = 0; c < d; ++c)
                        sq += qq[c] * qq[c];
                    const double n = std::sqrt(sq) + 1e-6, p = 3 * (0.5 + std::tanh(n));
                    double phi[64] = {};
                    for (int c = 0; c < d; ++c)
                        phi[c] = splitp(qq[c] / n, p, true), phi[DM + c] = splitp(qq[c] / n, p, false);
                    double den = 1e-6;
                    for (int i = 0; i < 2 * DM; ++i)
                        den += phi[i] * m[i];
                    const int y = t / cs.W, x = t % cs.W;
                    for (int c = 0; c < d; c += 2) {
                        double co, si;
                        rope(c, y, x, co, si);
                        for (int b : {0, DM}) {
                            double a0 = phi[b + c], a1 = phi[b + c + 1];
                            phi[b + c] = a0 * co - a1 * si;
                            phi[b + c + 1] = a0 * si + a1 * co;
                        }
                    }
                    for (int i = 0; i < 2 * DM; ++i)
                        for (int j = 0; j < DM; ++j)
                            o[j] += phi[i] * S[i * DM + j];
                    for (int j = 0; j < d; ++j)
                        ref[t * cs.C + h * d + j] = o[j] / den;
                } else {
                    double plus[32] = {}, minus[32] = {}, sim[32] = {}, opp[32] = {}, ds = 1e-6, dp = 1e-6;
                    for (int c = 0; c < d; ++c) {
                        const int hc = h * d + c;
                        plus[c] = splitp(qq[c] * sig[hc], pw[hc], true);
                        minus[c] = splitp(qq[c] * sig[hc], pw[hc], false);
                    }
                    for (int c = 0; c < DM; ++c) {
                        ds += plus[c] * m[c] + minus[c] * m[DM + c];
                        dp += minus[c] * m[c] + plus[c] * m[DM + c];
                        for (int j = 0; j < DM; ++j) {
                            sim[j] += plus[c] * S[c * DM + j] + minus[c] * S[(DM + c) * DM + j];
                            opp[j] += minus[c] * S[c * DM + j] + plus[c] * S[(DM + c) * DM + j];
                        }
                    }
                    for (int j = 0; j < d; ++j)
                        ref[t * cs.C + h * d + j] = j < half ? sim[j] / ds : opp[j] / dp;
                }
            }
        // New mapping.
        std::vector<double> got(N * cs.C, NAN);
        std::vector<int> writes(N * cs.C, 0);
        const int G = group_heads(cs.heads, DM), slots = kThreads / G, T = tokens_per_thread(DM);
        const long tile = long(T) * slots, bx = (N + tile - 1) / tile, by = cs.heads / G;
        if (G * stride(DM) > kStateFloats) {
            printf("state overflow\n");
            return 1;
        }
        std::vector<double> s_state(kStateFloats);
        for (long bxi = 0; bxi < bx; ++bxi)
            for (int byi = 0; byi < by; ++byi) {
                const int first_head = byi * G;
                std::fill(s_state.begin(), s_state.end(), NAN);
                for (int e = 0; e < G * entries(DM); ++e) {
                    const int g = e / entries(DM), r = e - g * entries(DM);
                    int to = r;
                    if (cs.pola && r < 2 * DM * DM && r % DM >= half)
                        to = (r + DM * DM) % (2 * DM * DM);
                    s_state[g * stride(DM) + to] = state[(first_head + g) * entries(DM) + r];
                }
                for (int tid = 0; tid < kThreads; ++tid) {
                    const int g = tid % G, slot = tid / G;
                    if (slot >= slots)
                        continue;
                    const int head = first_head + g;
                    const double* S = &s_state[g * stride(DM)];
                    const double* m = S + 2 * DM * DM;
                    const long t0 = bxi * tile + slot;
                    if (t0 >= N)
                        continue;
                    for (int k = 0; k < T; ++k) {
                        const long t = t0 + long(k) * slots;
                        double qv[32] = {};
                        if (t < N)
                            for (int c = 0; c < d; ++c)
                                qv[c] = q[t * ld + head * d + c];
                        const long in = std::min<long>(t, N - 1);
                        const int y = in / cs.W, x = in % cs.W;
                        double o[32] = {}, den = 1e-6, dop = 1e-6, n = 0, p = 0;
                        if (!cs.pola) {
                            double sq = 0;
                            for (int c = 0; c < DM; ++c)
                                sq += qv[c] * qv[c];
                            n = std::sqrt(sq) + 1e-6;
                            p = 3 * (0.5 + std::tanh(n));
                        }
                        for (int c = 0; c < d; c += 2) {
                            double coef[4];
                            const double mp0 = m[c], mp1 = m[c + 1], mn0 = m[DM + c], mn1 = m[DM + c + 1];
                            if (!cs.pola) {
                                const double p0 = splitp(qv[c] / n, p, true), n0 = splitp(qv[c] / n, p, false);
                                const double p1 = splitp(qv[c + 1] / n, p, true), n1 = splitp(qv[c + 1] / n, p, false);
                                den += p0 * mp0 + p1 * mp1 + n0 * mn0 + n1 * mn1;
                                double co, si;
                                rope(c, y, x, co, si);
                                coef[0] = p0 * co - p1 * si, coef[1] = p0 * si + p1 * co, coef[2] = n0 * co - n1 * si,
                                coef[3] = n0 * si + n1 * co;
                            } else {
                                const int hc = head * d + c;
                                const double a0 = splitp(qv[c] * sig[hc], pw[hc], true),
                                             b0 = splitp(qv[c] * sig[hc], pw[hc], false);
                                const double a1 = splitp(qv[c + 1] * sig[hc + 1], pw[hc + 1], true),
                                             b1 = splitp(qv[c + 1] * sig[hc + 1], pw[hc + 1], false);
                                den += a0 * mp0 + a1 * mp1 + b0 * mn0 + b1 * mn1;
                                dop += b0 * mp0 + b1 * mp1 + a0 * mn0 + a1 * mn1;
                                coef[0] = a0, coef[1] = a1, coef[2] = b0, coef[3] = b1;
                            }
                            const int rws[4] = {c, c + 1, DM + c, DM + c + 1};
                            for (int j = 0; j < DM; ++j)
                                for (int r = 0; r < 4; ++r)
                                    o[j] += coef[r] * S[rws[r] * DM + j];
                        }
                        if (t >= N)
                            break;
                        for (int j = 0; j < d; ++j) {
                            got[t * cs.C + head * d + j] = o[j] * (cs.pola && j >= half ? 1 / dop : 1 / den);
                            ++writes[t * cs.C + head * d + j];
                        }
                    }
                }
            }
        double err = 0, nrm = 0;
        int badw = 0;
        for (size_t i = 0; i < ref.size(); ++i) {
            err += (got[i] - ref[i]) * (got[i] - ref[i]);
            nrm += ref[i] * ref[i];
            badw += writes[i] != 1;
        }
        const double rel = std::sqrt(err / nrm);
        printf("%dx%d C=%d heads=%d %s: d=%d DM=%d G=%d T=%d grid %ldx%ld  rel %.3g  bad writes %d\n", cs.H, cs.W, cs.C,
               cs.heads, cs.pola ? "pola" : "nala", d, DM, G, T, bx, long(by), rel, badw);
        bad += !(rel < 1e-12) || badw;
    }
    printf(bad ? "FAIL\n" : "OK\n");
    return bad;
}
