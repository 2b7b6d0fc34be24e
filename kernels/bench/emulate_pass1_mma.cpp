// CPU check of NaLa/Pola pass 1 on the tensor cores (docs/cuda_notes.md, run 8): the 1D grid of (head, token
// range) blocks, each warp's token slots and stepped (y, x), the zeroed loads, the float32 features, the
// hi/lo tf32 split, the m16n8k8 fragment layouts of the PTX ISA (A: a0 (g, tig), a1 (g + 8, tig), a2 (g, tig + 4),
// a3 (g + 8, tig + 4); B: b0 (tig, g), b1 (tig + 4, g); C: c0/c1 (g, 2·tig + 0/1), c2/c3 (g + 8, 2·tig + 0/1)),
// the warps' tree sum, the permuted rows/columns of the partials, the shuffle sum of the mean key and the float64
// reduction — against S = Σ φ̃kᵀv / N and m = Σ φk / N computed directly in float64 from the definitions.
// Every partial entry must be written exactly once. Not part of the build:
//
//   g++ -O2 -std=c++17 kernels/bench/emulate_pass1_mma.cpp -o /tmp/emulate_pass1 && /tmp/emulate_pass1
//
// Keep the constants and index expressions in step with pass1_kernel in kernels/linear_attention.cu.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

constexpr int kWarps = 8, kSlots = 4, kChunk = kWarps * 4 * kSlots, kMaxBlocks = 512;
int entries(int DM) { return 2 * DM * DM + 2 * DM; }
int padded(int d) { return d <= 8 ? 8 : d <= 16 ? 16 : 32; }
long div_up(long a, long b) { return (a + b - 1) / b; }
int pairs(int DM) { return DM >= 16 ? DM / 16 : 1; }
int pair_channel(int DM, int g, int j) { return DM >= 16 ? (DM / 8) * g + 2 * j : 2 * (g % 4); }
bool negative_tile(int DM, int mt, int g) { return DM >= 16 ? mt >= pairs(DM) : g >= 4; }
int feature_row(int DM, int mt, int g, int e) {
    return (negative_tile(DM, mt, g) ? DM : 0) + pair_channel(DM, g, mt % pairs(DM)) + e;
}

// cvt.rna.tf32.f32: round to 10 explicit mantissa bits, ties away from zero (finite inputs).
float tf32(float x) {
    std::uint32_t u;
    std::memcpy(&u, &x, 4);
    u = (u + 0x1000u) & ~0x1fffu;
    float r;
    std::memcpy(&r, &u, 4);
    return r;
}

struct Case {
    int H, W, C, heads;
    bool pola;
};

struct Inputs {
    std::vector<float> k, v;                 // (N, C), float16-exact (multiples of 2^-10 in [-2, 2])
    std::vector<float> rows, cols;           // NaLa RoPE (cos, sin) tables, [pos · d/4 + i]
    std::vector<float> kpos_w, kpos_b, inv_sigma, power;  // Pola
};

struct Feat {
    float raw_pos[2][2], raw_neg[2][2], pos[2][2], neg[2][2], v[2][2];  // [pair j][x/y]
};

int main(int argc, char**) {
    const bool mutate = argc > 1;  // swaps a1 and a2: must fail
    std::mt19937 rng(7);
    std::uniform_int_distribution<int> U(-2048, 2048);
    std::uniform_real_distribution<double> R(0, 1);
    std::vector<Case> cases{{7, 7, 64, 4, 0},    {13, 7, 64, 4, 0},  {63, 13, 64, 4, 0}, {7, 7, 32, 4, 0},
                            {63, 13, 16, 4, 0},  {13, 7, 48, 4, 0},  {63, 13, 64, 2, 0}, {7, 7, 64, 4, 1},
                            {63, 13, 32, 4, 1},  {13, 7, 48, 2, 1},  {7, 7, 48, 3, 0},   {13, 7, 128, 8, 0},
                            {63, 13, 48, 4, 1},  {1, 1, 64, 4, 0},   {1, 1, 64, 4, 1},   {1, 33, 64, 4, 0},
                            {5, 13, 64, 4, 1},   {1, 1, 64, 2, 0},   {181, 191, 64, 4, 0}, {181, 191, 64, 4, 1},
                            {257, 263, 64, 4, 0}, {257, 263, 64, 4, 1}, {45, 1, 64, 4, 0}, {2, 1000, 32, 4, 1},
                            {600, 1, 16, 4, 0},  {257, 263, 48, 2, 1}, {270, 1000, 64, 4, 0}};
    double worst = 0, worst_mean = 0;
    int bad = 0;
    for (const Case& cs : cases) {
        const int d = cs.C / cs.heads, DM = padded(d), N = cs.H * cs.W, q4 = d / 4, P = pairs(DM), T = DM / 8;
        Inputs in;
        in.k.resize(std::size_t(N) * cs.C), in.v.resize(std::size_t(N) * cs.C);
        for (auto& x : in.k) x = U(rng) / 1024.0f;
        for (auto& x : in.v) x = U(rng) / 1024.0f;
        for (auto* t : {&in.rows, &in.cols}) {
            const int n = t == &in.rows ? cs.H : cs.W;
            t->resize(std::size_t(n) * q4 * 2);
            for (int i = 0; i < n * q4; ++i) {
                const double a = 2 * M_PI * R(rng);
                (*t)[2 * i] = float(std::cos(a)), (*t)[2 * i + 1] = float(std::sin(a));
            }
        }
        in.kpos_w.resize(9 * cs.C), in.kpos_b.resize(cs.C), in.inv_sigma.resize(cs.C), in.power.resize(cs.C);
        for (auto& x : in.kpos_w) x = float(0.3 * (R(rng) - 0.5));
        for (auto& x : in.kpos_b) x = float(0.2 * (R(rng) - 0.5));
        for (auto& x : in.inv_sigma) x = float(0.7 + 0.6 * R(rng));
        for (auto& x : in.power) x = float(1 + 4 * R(rng));

        // Kernel-side helpers (float32, the kernel's operation order).
        auto rope = [&](int c, int y, int x, float& co, float& si) {
            const float* e = c < d / 2 ? &in.rows[(std::size_t(y) * q4 + c / 2) * 2]
                                       : &in.cols[(std::size_t(x) * q4 + (c - d / 2) / 2) * 2];
            co = e[0], si = e[1];
        };
        auto pola_key = [&](long t, int y, int x, int hc) {
            float a = in.k[t * cs.C + hc] + in.kpos_b[hc];
            for (int tap = 0; tap < 9; ++tap) {
                const int ny = y + tap / 3 - 1, nx = x + tap % 3 - 1;
                if (ny < 0 || ny >= cs.H || nx < 0 || nx >= cs.W) continue;
                a += in.kpos_w[tap * cs.C + hc] * in.k[(long(ny) * cs.W + nx) * cs.C + hc];
            }
            return a * in.inv_sigma[hc];
        };
        auto powf_nonneg = [](float x, float p) { return x > 0 ? float(std::exp2(double(p) * std::log2(double(x)))) : 0.0f; };

        // pass1_split
        const long chunks = div_up(N, kChunk), per = div_up(chunks, kMaxBlocks) * kChunk;
        const int blocks = int(div_up(N, per));
        std::vector<float> partials(std::size_t(cs.heads) * blocks * entries(DM), NAN);
        std::vector<int> writes(partials.size(), 0);

        for (int b = 0; b < blocks * cs.heads; ++b) {
            const int head = b % cs.heads, range = b / cs.heads;
            const long t_begin = long(range) * per, t_end = std::min<long>(N, t_begin + per);
            // per lane state: acc[warp][lane][mt][nt][4], mean[warp][lane][mt][2]
            std::vector<float> acc(kWarps * 32 * T * T * 4, 0.0f), mean(kWarps * 32 * T * 2, 0.0f);
            auto A = [&](int w, int l, int mt, int nt, int e) -> float& { return acc[(((w * 32 + l) * T + mt) * T + nt) * 4 + e]; };
            auto M = [&](int w, int l, int mt, int e) -> float& { return mean[((w * 32 + l) * T + mt) * 2 + e]; };
            std::vector<int> y0(kWarps * 32), x0(kWarps * 32);
            for (int w = 0; w < kWarps; ++w)
                for (int l = 0; l < 32; ++l) {
                    const unsigned t0 = unsigned(t_begin + w * 16 + l % 4);
                    y0[w * 32 + l] = t0 / unsigned(cs.W), x0[w * 32 + l] = t0 % unsigned(cs.W);
                }
            for (long chunk = t_begin; chunk < t_end; chunk += kChunk) {
                for (int w = 0; w < kWarps; ++w)
                    for (int s = 0; s < 2; ++s) {
                        // Each lane's features of its two tokens of this k-step.
                        std::vector<Feat> F(32 * 2);
                        for (int l = 0; l < 32; ++l) {
                            const int g = l / 4, tig = l % 4, first = w * 16 + tig;
                            for (int h = 0; h < 2; ++h) {
                                const int i = 2 * s + h;
                                const long t = chunk + first + 4 * i;
                                int y = y0[w * 32 + l], x = x0[w * 32 + l] + 4 * i;
                                while (x >= cs.W) x -= cs.W, ++y;
                                const bool valid = t < t_end;
                                if (valid && (y != t / cs.W || x != t % cs.W)) {
                                    std::printf("position mismatch\n");
                                    return 1;
                                }
                                Feat& f = F[l * 2 + h];
                                std::memset(&f, 0, sizeof f);
                                for (int j = 0; j < P; ++j) {
                                    const int c = pair_channel(DM, g, j), hc = head * d + c;
                                    if (valid && (DM == 8 ? g < d : c < d)) {
                                        f.v[j][0] = in.v[t * cs.C + head * d + (DM == 8 ? g : c)];
                                        f.v[j][1] = DM == 8 ? 0.0f : in.v[t * cs.C + hc + 1];
                                    }
                                    if (!(valid && c < d)) continue;
                                    for (int e = 0; e < 2; ++e) {
                                        float pos, neg;
                                        if (!cs.pola) {
                                            const float k = in.k[t * cs.C + hc + e], k3 = k * k * k;
                                            pos = std::max(k3, 0.0f), neg = std::max(-k3, 0.0f);
                                        } else {
                                            const float k = pola_key(t, y, x, hc + e);
                                            const float a = powf_nonneg(std::fabs(k), in.power[hc + e]);
                                            pos = k > 0 ? a : 0.0f, neg = k < 0 ? a : 0.0f;
                                        }
                                        f.raw_pos[j][e] = pos, f.raw_neg[j][e] = neg;
                                    }
                                    float co = 1, si = 0;
                                    if (!cs.pola) rope(c, y, x, co, si);
                                    auto rot = [&](const float (&a)[2], float (&o)[2]) {
                                        o[0] = a[0] * co - a[1] * si, o[1] = a[0] * si + a[1] * co;
                                    };
                                    rot(f.raw_pos[j], f.pos[j]);
                                    rot(f.raw_neg[j], f.neg[j]);
                                }
                            }
                        }
                        // Fragments, then the mma from the PTX layouts.
                        for (int mt = 0; mt < T; ++mt) {
                            float Ahi[16][8], Alo[16][8];
                            for (int l = 0; l < 32; ++l) {
                                const int g = l / 4, tig = l % 4, j = mt % P;
                                const bool neg = negative_tile(DM, mt, g);
                                float hi[4], lo[4];
                                for (int h = 0; h < 2; ++h) {
                                    const Feat& f = F[l * 2 + h];
                                    const float* a = neg ? f.neg[j] : f.pos[j];
                                    const float* raw = neg ? f.raw_neg[j] : f.raw_pos[j];
                                    M(w, l, mt, 0) += raw[0], M(w, l, mt, 1) += raw[1];
                                    for (int e = 0; e < 2; ++e) {
                                        hi[2 * h + e] = tf32(a[e]);
                                        lo[2 * h + e] = tf32(a[e] - hi[2 * h + e]);
                                    }
                                }
                                // a0 (g, tig), a1 (g + 8, tig), a2 (g, tig + 4), a3 (g + 8, tig + 4)
                                const int r[4] = {g, g + 8, g, g + 8}, cc[4] = {tig, tig, tig + 4, tig + 4};
                                for (int q = 0; q < 4; ++q) {
                                    const int qq = mutate && (q == 1 || q == 2) ? 3 - q : q;
                                    Ahi[r[q]][cc[q]] = hi[qq], Alo[r[q]][cc[q]] = lo[qq];
                                }
                            }
                            for (int nt = 0; nt < T; ++nt) {
                                float B[8][8];
                                for (int l = 0; l < 32; ++l) {
                                    const int g = l / 4, tig = l % 4;
                                    for (int h = 0; h < 2; ++h) {
                                        const float* v = F[l * 2 + h].v[nt / 2];
                                        B[tig + 4 * h][g] = DM == 8 || nt % 2 == 0 ? v[0] : v[1];  // b0, b1
                                    }
                                }
                                for (const auto* Am : {&Ahi, &Alo}) {
                                    double D[16][8];
                                    for (int m = 0; m < 16; ++m)
                                        for (int n = 0; n < 8; ++n) {
                                            double sacc = 0;
                                            for (int k = 0; k < 8; ++k) sacc += double((*Am)[m][k]) * B[k][n];
                                            D[m][n] = sacc;
                                        }
                                    for (int l = 0; l < 32; ++l) {
                                        const int g = l / 4, tig = l % 4;
                                        for (int e = 0; e < 4; ++e)
                                            A(w, l, mt, nt, e) =
                                                float(A(w, l, mt, nt, e) + D[g + 8 * (e / 2)][2 * tig + e % 2]);
                                    }
                                }
                            }
                        }
                    }
                for (int l = 0; l < kWarps * 32; ++l) {
                    y0[l] += kChunk / cs.W, x0[l] += kChunk % cs.W;
                    if (x0[l] >= cs.W) x0[l] -= cs.W, ++y0[l];
                }
            }
            // Tree: warps [h, 2h) into [0, h).
            for (int h = kWarps / 2; h > 0; h /= 2)
                for (int w = 0; w < h; ++w)
                    for (int l = 0; l < 32; ++l) {
                        for (int mt = 0; mt < T; ++mt) {
                            for (int nt = 0; nt < T; ++nt)
                                for (int e = 0; e < 4; ++e) A(w, l, mt, nt, e) += A(w + h, l, mt, nt, e);
                            for (int e = 0; e < 2; ++e) M(w, l, mt, e) += M(w + h, l, mt, e);
                        }
                    }
            float* out = &partials[(std::size_t(head) * blocks + range) * entries(DM)];
            int* wr = &writes[(std::size_t(head) * blocks + range) * entries(DM)];
            for (int l = 0; l < 32; ++l) {
                const int g = l / 4, tig = l % 4;
                for (int mt = 0; mt < T; ++mt) {
                    for (int nt = 0; nt < T; ++nt)
                        for (int e = 0; e < 4; ++e) {
                            const int idx = feature_row(DM, mt, g, e / 2) * DM + (DM / 8) * (2 * tig + e % 2) + nt;
                            out[idx] = A(0, l, mt, nt, e), ++wr[idx];
                        }
                    for (int e = 0; e < 2; ++e) {
                        if (tig != 0) continue;
                        const int base = (g * 4) ;
                        const float m = (M(0, base, mt, e) + M(0, base + 1, mt, e)) + (M(0, base + 2, mt, e) + M(0, base + 3, mt, e));
                        const int idx = 2 * DM * DM + feature_row(DM, mt, g, e);
                        out[idx] = m, ++wr[idx];
                    }
                }
            }
        }
        for (std::size_t i = 0; i < writes.size(); ++i)
            if (writes[i] != 1) {
                std::printf("entry %zu written %d times\n", i, writes[i]);
                ++bad;
                break;
            }

        // Reduction (float64, order irrelevant here) and the direct float64 reference.
        double case_err = 0, case_mean_err = 0;
        for (int head = 0; head < cs.heads; ++head) {
            std::vector<double> ref(entries(DM), 0.0), scale(entries(DM), 0.0);
            for (long t = 0; t < N; ++t) {
                const int y = int(t / cs.W), x = int(t % cs.W);
                for (int c = 0; c < d; c += 2) {
                    double pos[2], neg[2];
                    for (int e = 0; e < 2; ++e) {
                        const int hc = head * d + c + e;
                        double kk;
                        if (!cs.pola) kk = std::pow(double(in.k[t * cs.C + hc]), 3);
                        else {
                            kk = double(in.k[t * cs.C + hc]) + in.kpos_b[hc];
                            for (int tap = 0; tap < 9; ++tap) {
                                const int ny = y + tap / 3 - 1, nx = x + tap % 3 - 1;
                                if (ny < 0 || ny >= cs.H || nx < 0 || nx >= cs.W) continue;
                                kk += double(in.kpos_w[tap * cs.C + hc]) * in.k[(long(ny) * cs.W + nx) * cs.C + hc];
                            }
                            kk *= in.inv_sigma[hc];
                            kk = (kk > 0 ? 1 : -1) * std::pow(std::fabs(kk), double(in.power[hc]));
                        }
                        pos[e] = std::max(kk, 0.0), neg[e] = std::max(-kk, 0.0);
                    }
                    double co = 1, si = 0;
                    if (!cs.pola) {
                        const float* en = c < d / 2 ? &in.rows[(std::size_t(y) * q4 + c / 2) * 2]
                                                    : &in.cols[(std::size_t(x) * q4 + (c - d / 2) / 2) * 2];
                        co = en[0], si = en[1];
                    }
                    const double rp[2] = {pos[0] * co - pos[1] * si, pos[0] * si + pos[1] * co};
                    const double rn[2] = {neg[0] * co - neg[1] * si, neg[0] * si + neg[1] * co};
                    for (int e = 0; e < 2; ++e) {
                        ref[2 * DM * DM + c + e] += pos[e], ref[2 * DM * DM + DM + c + e] += neg[e];
                        for (int n = 0; n < d; ++n) {
                            const double v = in.v[t * cs.C + head * d + n];
                            ref[(c + e) * DM + n] += rp[e] * v, ref[(DM + c + e) * DM + n] += rn[e] * v;
                            scale[(c + e) * DM + n] += std::fabs(rp[e] * v);
                            scale[(DM + c + e) * DM + n] += std::fabs(rn[e] * v);
                        }
                    }
                }
            }
            for (int e = 0; e < entries(DM); ++e) {
                double s = 0;
                for (int b = 0; b < blocks; ++b) s += partials[(std::size_t(head) * blocks + b) * entries(DM) + e];
                const double err = std::fabs(s - ref[e]);
                if (e < 2 * DM * DM) {
                    // relative to the sum of |terms| (the bound a float32 sum obeys); padding entries must be 0
                    const double rel = scale[e] > 0 ? err / scale[e] : err;
                    case_err = std::max(case_err, rel);
                } else {
                    const double rel = ref[e] > 0 ? err / ref[e] : err;
                    case_mean_err = std::max(case_mean_err, rel);
                }
            }
        }
        std::printf("H=%4d W=%4d C=%3d heads=%d %s d=%2d DM=%2d blocks=%3d per=%5ld: S err/Σ|terms| %.2e, m rel %.2e\n",
                    cs.H, cs.W, cs.C, cs.heads, cs.pola ? "pola" : "nala", d, DM, blocks, per, case_err,
                    case_mean_err);
        worst = std::max(worst, case_err), worst_mean = std::max(worst_mean, case_mean_err);
        if (!(case_err < 1e-5) || !(case_mean_err < 1e-5)) ++bad;
    }
    std::printf("worst: S %.2e, m %.2e; %s\n", worst, worst_mean, bad ? "FAIL" : "ok");
    return bad ? 1 : 0;
}
