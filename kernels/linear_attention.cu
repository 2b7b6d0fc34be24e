#include "common.cuh"
#include "linear_attention.cuh"

#include <algorithm>

namespace nalasr::kernels {
namespace {

enum class FeatureMap { Nala, Pola };

// Pass 1: a block of kPass1Warps warps takes kChunk tokens per iteration, a warp 16 of them (two m16n8k8 k-steps),
// a thread kSlots (= 4) of those.
constexpr int kPass1Warps = 8;
constexpr int kPass1Threads = 32 * kPass1Warps;
constexpr int kSlots = 4;
constexpr int kChunk = kPass1Warps * 4 * kSlots;  // 128
constexpr int kMaxBlocks = 512;  // pass-1 blocks per head: bounds the partials to ~0.5 MB per head at d = 16

// Padded head width DM (8, 16, 32): S is 2·DM × DM, followed by the 2·DM mean-key entries.
constexpr int entries(int DM) { return 2 * DM * DM + 2 * DM; }

int padded_head_dim(int d) { return d <= 8 ? 8 : d <= 16 ? 16 : d <= 32 ? 32 : 0; }

// Pass-1 blocks per head and tokens per block; depends on N only, so the reduction order (and the result) is
// the same on every GPU and every run.
void pass1_split(std::int64_t N, int* blocks, std::int64_t* tokens_per_block) {
    const std::int64_t chunks = div_up(N, kChunk);
    const std::int64_t per = div_up(chunks, kMaxBlocks) * kChunk;
    *tokens_per_block = per;
    *blocks = int(div_up(N, per));
}

struct Params {
    __half* qkvg;
    std::int64_t ld;
    int H, W, C, d;
    std::int64_t N;
    const float2* rope_rows;  // nala
    const float2* rope_cols;
    const float* kpos_w;      // pola
    const float* kpos_b;
    const float* inv_sigma;
    const float* power;
    int heads;
    float* partials;          // [heads][blocks][entries]
    float* state;             // [heads][entries]: S (row-major 2·DM × DM) then m (2·DM), already divided by N
    int blocks;
    std::int64_t tokens_per_block;
    bool wide;                // pass 2 may read q and write o 8 channels (16 bytes) at a time
    int group_heads;          // heads per pass-2 block
};

// (cos, sin) of the RoPE angle for channel pair (c, c+1) of a d-wide half at token (y, x): the first d/2
// channels turn with the row, the last d/2 with the column.
__device__ inline float2 rope(const Params& p, int c, int y, int x) {
    const int quarter = p.d / 4;
    return c < p.d / 2 ? p.rope_rows[y * quarter + c / 2] : p.rope_cols[x * quarter + (c - p.d / 2) / 2];
}

__device__ inline float2 rotate(float2 v, float2 cs) {
    return make_float2(v.x * cs.x - v.y * cs.y, v.x * cs.y + v.y * cs.x);
}

// (max(x, 0)^p, max(−x, 0)^p): at most one is non-zero, so one power is evaluated (the same value as the
// two-sided form, bit for bit).
__device__ inline float2 split_power(float x, float p) {
    const float a = pow_nonneg(fabsf(x), p);
    return make_float2(x > 0.0f ? a : 0.0f, x < 0.0f ? a : 0.0f);
}

// Pola's key after steps 1-2, (k + kpos(k)) / σ, for the global channel pair (hc, hc + 1) at token t.
__device__ inline float2 pola_key(const Params& p, std::int64_t t, int y, int x, int hc) {
    const __half* k = p.qkvg + p.C + hc;
    float2 a = __half22float2(*reinterpret_cast<const __half2*>(k + t * p.ld));
    a.x += p.kpos_b[hc], a.y += p.kpos_b[hc + 1];
    for (int tap = 0; tap < 9; ++tap) {
        const int ny = y + tap / 3 - 1, nx = x + tap % 3 - 1;
        if (ny < 0 || ny >= p.H || nx < 0 || nx >= p.W) continue;
        const float2 n = __half22float2(*reinterpret_cast<const __half2*>(k + (std::int64_t(ny) * p.W + nx) * p.ld));
        a.x += p.kpos_w[tap * p.C + hc] * n.x, a.y += p.kpos_w[tap * p.C + hc + 1] * n.y;
    }
    return make_float2(a.x * p.inv_sigma[hc], a.y * p.inv_sigma[hc + 1]);
}

// Pass 1 computes a block's partial S = Σ φ̃kᵀv (2·DM × DM) on the tensor cores, one m16n8k8 tf32 GEMM per warp:
// M = the 2·DM features (DM/8 m-tiles), N = the DM v channels (DM/8 n-tiles), K = the warp's tokens, 8 per k-step.
// Both orders are permuted so that a thread's fragments come from whole channel pairs of its own tokens:
//  - thread (g = lane / 4, tig = lane % 4) takes the tokens tig, tig + 4 of each k-step, i.e. warp tokens tig + 4i
//    (slot i = 0 … 3; k-step i / 2, fragment half i % 2), and builds the features of channel pairs
//    pair_channel(g, j), j < pass1_pairs(DM), from its own k loads: no shared memory, no shuffles;
//  - row g + 8e of m-tile mt is feature (mt ≥ P ? DM : 0) + pair_channel(g, mt mod P) + e for P = pass1_pairs(DM)
//    (m-tiles [0, P) the positive features, [P, 2P) the negative ones; DM = 8: one m-tile, lane groups 4-7 negative);
//  - column n of n-tile nt is v channel (DM/8)·n + nt, so a thread's B values are the channel pairs of its k loads.
// The features are float32; each is split into two tf32 values, hi = tf32(a) and lo = tf32(a − hi), and both are
// multiplied (v, float16 in memory, is exact in tf32): |hi + lo − a| ≤ 2⁻²²|a|, so S keeps float32 precision.
constexpr int pass1_pairs(int DM) { return DM >= 16 ? DM / 16 : 1; }
constexpr int pass1_min_blocks(int DM) { return DM <= 16 ? 4 : 1; }  // DM = 32: 169 registers

template <int DM>
__device__ inline int pair_channel(int g, int j) {
    return DM >= 16 ? (DM / 8) * g + 2 * j : 2 * (g % 4);
}

// Whether m-tile mt of lane group g holds negative features.
template <int DM>
__device__ inline bool negative_tile(int mt, int g) {
    return DM >= 16 ? mt >= pass1_pairs(DM) : g >= 4;
}

// The S row (feature) of element e (0: row g, 1: row g + 8) of m-tile mt.
template <int DM>
__device__ inline int feature_row(int mt, int g, int e) {
    return (negative_tile<DM>(mt, g) ? DM : 0) + pair_channel<DM>(g, mt % pass1_pairs(DM)) + e;
}

// A thread's key features and v for one token.
template <int DM>
struct TokenFeatures {
    static constexpr int P = pass1_pairs(DM);
    float2 raw_pos[P], raw_neg[P];  // φk of the channel pairs (terms of the mean key)
    float2 pos[P], neg[P];          // φ̃k, the rows of S's GEMM (NaLa: RoPE-rotated; Pola: φk)
    float2 v[P];                    // v of the same channel pairs (DM = 8: v[0].x is v channel g)
};

// NaLa's k and v loads for one token, issued a chunk ahead of their use.
template <int DM>
struct NalaLoads {
    static constexpr int P = pass1_pairs(DM);
    __half2 k[P], v[P];
};

template <int DM>
__device__ inline void load_nala(const Params& p, int head, std::int64_t t, bool valid, int g, NalaLoads<DM>& out) {
    const __half* row = p.qkvg + t * p.ld + head * p.d;
#pragma unroll
    for (int j = 0; j < NalaLoads<DM>::P; ++j) {
        const int c = pair_channel<DM>(g, j);
        out.k[j] = out.v[j] = __float2half2_rn(0.0f);
        if (!valid) continue;
        if (DM == 8) {
            if (g < p.d) out.v[j] = __halves2half2(row[2 * p.C + g], __float2half(0.0f));
        } else if (c < p.d) {
            out.v[j] = *reinterpret_cast<const __half2*>(row + 2 * p.C + c);
        }
        if (c < p.d) out.k[j] = *reinterpret_cast<const __half2*>(row + p.C + c);
    }
}

// The RoPE entries (L1-resident tables) are read here, not a chunk ahead: held in registers they cost 8 more.
template <int DM>
__device__ inline TokenFeatures<DM> nala_features(const Params& p, const NalaLoads<DM>& in, bool valid, int y, int x,
                                                  int g) {
    TokenFeatures<DM> f;
#pragma unroll
    for (int j = 0; j < TokenFeatures<DM>::P; ++j) {
        const int c = pair_channel<DM>(g, j);
        const float2 cs = valid && c < p.d ? rope(p, c, y, x) : make_float2(1.0f, 0.0f);
        // Zero loads (past the end, padding channels) give zero features.
        const float2 k = __half22float2(in.k[j]);
        const float k0 = k.x * k.x * k.x, k1 = k.y * k.y * k.y;
        f.raw_pos[j] = make_float2(fmaxf(k0, 0.0f), fmaxf(k1, 0.0f));
        f.raw_neg[j] = make_float2(fmaxf(-k0, 0.0f), fmaxf(-k1, 0.0f));
        f.pos[j] = rotate(f.raw_pos[j], cs);
        f.neg[j] = rotate(f.raw_neg[j], cs);
        f.v[j] = __half22float2(in.v[j]);
    }
    return f;
}

template <int DM>
__device__ inline TokenFeatures<DM> pola_features(const Params& p, int head, std::int64_t t, bool valid, int y, int x,
                                                  int g) {
    TokenFeatures<DM> f;
    const __half* row = p.qkvg + t * p.ld + head * p.d;
#pragma unroll
    for (int j = 0; j < TokenFeatures<DM>::P; ++j) {
        const int c = pair_channel<DM>(g, j);
        f.raw_pos[j] = f.raw_neg[j] = f.v[j] = make_float2(0.0f, 0.0f);
        if (valid && (DM == 8 ? g < p.d : c < p.d))
            f.v[j] = DM == 8 ? make_float2(__half2float(row[2 * p.C + g]), 0.0f)
                             : __half22float2(*reinterpret_cast<const __half2*>(row + 2 * p.C + c));
        if (valid && c < p.d) {
            const int hc = head * p.d + c;
            const float2 k = pola_key(p, t, y, x, hc);
            const float2 s0 = split_power(k.x, p.power[hc]), s1 = split_power(k.y, p.power[hc + 1]);
            f.raw_pos[j] = make_float2(s0.x, s1.x);
            f.raw_neg[j] = make_float2(s0.y, s1.y);
        }
        f.pos[j] = f.raw_pos[j], f.neg[j] = f.raw_neg[j];
    }
    return f;
}

__device__ inline unsigned to_tf32(float x) {
    unsigned r;
    asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(r) : "f"(x));
    return r;
}

__device__ inline void mma_tf32(float (&d)[4], const unsigned (&a)[4], const unsigned (&b)[2]) {
    asm("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

// One k-step: the thread's two tokens of it (fragment halves 0 and 1) into the S tiles and the mean-key sums.
template <int DM>
__device__ inline void accumulate_step(const TokenFeatures<DM> (&f)[2], int g, float (&acc)[DM / 8][DM / 8][4],
                                       float (&mean)[DM / 8][2]) {
    constexpr int P = pass1_pairs(DM), kTiles = DM / 8;
    unsigned b[kTiles][2];  // B(k = tig + 4h, n = g) of n-tile nt: v channel (DM/8)·g + nt of token half h
#pragma unroll
    for (int nt = 0; nt < kTiles; ++nt)
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            const float2 v = f[h].v[nt / 2];
            b[nt][h] = __float_as_uint(DM == 8 || nt % 2 == 0 ? v.x : v.y);
        }
#pragma unroll
    for (int mt = 0; mt < kTiles; ++mt) {
        const bool neg = negative_tile<DM>(mt, g);
        const int j = mt % P;
        unsigned hi[4], lo[4];  // A(m = g + 8e, k = tig + 4h) is element 2h + e
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            const float2 a = neg ? f[h].neg[j] : f[h].pos[j];
            const float2 raw = neg ? f[h].raw_neg[j] : f[h].raw_pos[j];
            mean[mt][0] += raw.x, mean[mt][1] += raw.y;
            hi[2 * h] = to_tf32(a.x), hi[2 * h + 1] = to_tf32(a.y);
            lo[2 * h] = to_tf32(a.x - __uint_as_float(hi[2 * h]));
            lo[2 * h + 1] = to_tf32(a.y - __uint_as_float(hi[2 * h + 1]));
        }
#pragma unroll
        for (int nt = 0; nt < kTiles; ++nt) {
            mma_tf32(acc[mt][nt], hi, b[nt]);
            mma_tf32(acc[mt][nt], lo, b[nt]);
        }
    }
}

// Pass 1. Block b takes head b mod heads and token range b / heads, so the heads of a range run side by side and
// share the 128-byte lines of k and v in L2. Each warp accumulates its tokens' S in mma fragments and the mean-key
// terms per lane; the warps' sums are added in a fixed tree at the end (deterministic).
template <int DM, FeatureMap F>
__global__ void __launch_bounds__(kPass1Threads, pass1_min_blocks(DM)) pass1_kernel(Params p) {
    constexpr int kTiles = DM / 8;
    const int head = blockIdx.x % p.heads, range = blockIdx.x / p.heads;
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, g = lane / 4, tig = lane % 4;
    const std::int64_t t_begin = std::int64_t(range) * p.tokens_per_block;
    const std::int64_t t_end = min(p.N, t_begin + p.tokens_per_block);

    // Token of slot i in the chunk at `chunk`: chunk + first + 4i. The (y, x) of slot 0 is stepped by kChunk per
    // iteration, and the other slots' are found from it (4i columns on, a row boundary between them at most once
    // unless W < 13).
    const int first = warp * 16 + tig;
    const int step_y = kChunk / p.W, step_x = kChunk % p.W;
    const unsigned t0 = unsigned(t_begin + first);
    int y0 = t0 / unsigned(p.W), x0 = t0 - unsigned(y0) * unsigned(p.W);
    auto position = [&](int i, int& y, int& x) {
        y = y0, x = x0 + 4 * i;
        while (x >= p.W) x -= p.W, ++y;
    };

    float acc[kTiles][kTiles][4] = {};
    float mean[kTiles][2] = {};
    NalaLoads<DM> next[kSlots];  // NaLa: the loads of the chunk to accumulate next
    if constexpr (F == FeatureMap::Nala) {
#pragma unroll
        for (int i = 0; i < kSlots; ++i) {
            const std::int64_t t = t_begin + first + 4 * i;
            load_nala<DM>(p, head, t, t < t_end, g, next[i]);
        }
    }
    for (std::int64_t chunk = t_begin; chunk < t_end; chunk += kChunk) {
#pragma unroll
        for (int s = 0; s < 2; ++s) {
            TokenFeatures<DM> f[2];
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                const int i = 2 * s + h;
                const std::int64_t t = chunk + first + 4 * i;
                int y, x;
                position(i, y, x);
                if constexpr (F == FeatureMap::Nala) {
                    f[h] = nala_features<DM>(p, next[i], t < t_end, y, x, g);
                    // The next chunk's loads are issued now and land while this chunk is accumulated.
                    load_nala<DM>(p, head, t + kChunk, t + kChunk < t_end, g, next[i]);
                } else {
                    f[h] = pola_features<DM>(p, head, t, t < t_end, y, x, g);
                }
            }
            accumulate_step<DM>(f, g, acc, mean);
        }
        y0 += step_y, x0 += step_x;
        if (x0 >= p.W) x0 -= p.W, ++y0;
    }

    // Warps [h, 2h) hand their sums to warps [0, h) through shared memory, h = 4, 2, 1 (lane-major: no conflicts).
    constexpr int kAccFloats = kTiles * kTiles * 4 + kTiles * 2;
    __shared__ float red[kPass1Warps / 2][kAccFloats][32];
#pragma unroll 1
    for (int h = kPass1Warps / 2; h > 0; h /= 2) {
        if (warp >= h && warp < 2 * h) {
            float* r = &red[warp - h][0][lane];
#pragma unroll
            for (int mt = 0; mt < kTiles; ++mt) {
#pragma unroll
                for (int nt = 0; nt < kTiles; ++nt)
#pragma unroll
                    for (int e = 0; e < 4; ++e) r[((mt * kTiles + nt) * 4 + e) * 32] = acc[mt][nt][e];
                r[(kTiles * kTiles * 4 + mt * 2) * 32] = mean[mt][0];
                r[(kTiles * kTiles * 4 + mt * 2 + 1) * 32] = mean[mt][1];
            }
        }
        __syncthreads();
        if (warp < h) {
            const float* r = &red[warp][0][lane];
#pragma unroll
            for (int mt = 0; mt < kTiles; ++mt) {
#pragma unroll
                for (int nt = 0; nt < kTiles; ++nt)
#pragma unroll
                    for (int e = 0; e < 4; ++e) acc[mt][nt][e] += r[((mt * kTiles + nt) * 4 + e) * 32];
                mean[mt][0] += r[(kTiles * kTiles * 4 + mt * 2) * 32];
                mean[mt][1] += r[(kTiles * kTiles * 4 + mt * 2 + 1) * 32];
            }
        }
        __syncthreads();
    }
    if (warp != 0) return;

    // D(m = g + 8·(e / 2), n = 2·tig + e mod 2) of tile (mt, nt) is S[feature_row(mt, g, e / 2)][(DM/8)·n + nt].
    float* out = p.partials + (std::int64_t(head) * p.blocks + range) * entries(DM);
#pragma unroll
    for (int mt = 0; mt < kTiles; ++mt) {
#pragma unroll
        for (int nt = 0; nt < kTiles; ++nt)
#pragma unroll
            for (int e = 0; e < 4; ++e)
                out[feature_row<DM>(mt, g, e / 2) * DM + (DM / 8) * (2 * tig + e % 2) + nt] = acc[mt][nt][e];
        // The four lanes of a group hold the mean-key sums of the same two features over different tokens.
#pragma unroll
        for (int e = 0; e < 2; ++e) {
            float m = mean[mt][e];
            m += __shfl_xor_sync(kFullMask, m, 1);
            m += __shfl_xor_sync(kFullMask, m, 2);
            if (tig == 0) out[2 * DM * DM + feature_row<DM>(mt, g, e)] = m;
        }
    }
}

// Sums the partials of every block in float64 and divides by N. A block takes 32 entries; its 16 warps sum the
// pass-1 blocks ≡ warp (mod 16), and warp 0 adds the 16 sums in order: a fixed order, so a deterministic result.
constexpr int kReduceSlices = 16;
__global__ void reduce_kernel(const float* __restrict__ partials, int blocks, int n_entries, int heads, double inv_n,
                              float* __restrict__ state) {
    __shared__ double slice_sum[kReduceSlices][32];
    const int lane = threadIdx.x % 32, slice = threadIdx.x / 32;
    const int i = blockIdx.x * 32 + lane;
    const bool valid = i < heads * n_entries;
    double s = 0.0;
    if (valid) {
        const int head = i / n_entries, e = i % n_entries;
        const float* p = partials + std::int64_t(head) * blocks * n_entries + e;
#pragma unroll 8
        for (int b = slice; b < blocks; b += kReduceSlices) s += p[std::int64_t(b) * n_entries];
    }
    slice_sum[slice][lane] = s;
    __syncthreads();
    if (slice != 0 || !valid) return;
    double total = 0.0;
    for (int k = 0; k < kReduceSlices; ++k) total += slice_sum[k][lane];
    state[i] = float(total * inv_n);
}

// Pass 2 layout. A block takes G = `group_heads` heads of a tile of tokens: thread i works on head i mod G of the
// group and on pass2_tokens(DM) tokens `slots` = kPass2Threads / G apart, starting at the tile's (i / G)-th. So
// a warp's lanes cover all G heads of 32 / G consecutive tokens, and its q loads and o stores fill whole 32-byte
// sectors of 32 / G rows (with one head per block and one token per thread they touched 32 rows at a time), and
// every S entry read from shared memory serves two tokens. The heads' states lie state_stride(DM) floats apart,
// 4 floats past a multiple of 32 banks, so a warp's G distinct S addresses fall in distinct banks.
constexpr int kPass2Threads = 256;
constexpr int kPass2StateFloats = 4096;  // shared floats for the group's states: G ≤ 7 at d = 16, 1 at d = 32
constexpr int pass2_tokens(int DM) { return DM <= 16 ? 2 : 1; }
constexpr int state_stride(int DM) { return entries(DM) + 4; }

// Heads per pass-2 block: the largest divisor of `heads` whose states fit kPass2StateFloats.
int pass2_group_heads(int heads, int DM) {
    const int most = std::min(kPass2StateFloats / state_stride(DM), kPass2Threads);
    for (int g = std::min(heads, most); g > 1; --g)
        if (heads % g == 0) return g;
    return 1;
}

// A head's d channels of one token as float16 pairs, zeros up to DM. With `wide` (d a multiple of 8, `src`
// 16-byte aligned) 16-byte loads.
template <int DM>
__device__ inline void load_head(const __half* src, int d, bool wide, __half2 (&q)[DM / 2]) {
#pragma unroll
    for (int c = 0; c < DM; c += 8) {
        __half2* h = q + c / 2;
        if (wide && c < d) {
            const uint4 u = *reinterpret_cast<const uint4*>(src + c);
            h[0] = *reinterpret_cast<const __half2*>(&u.x), h[1] = *reinterpret_cast<const __half2*>(&u.y);
            h[2] = *reinterpret_cast<const __half2*>(&u.z), h[3] = *reinterpret_cast<const __half2*>(&u.w);
        } else {
#pragma unroll
            for (int j = 0; j < 4; ++j)
                h[j] = c + 2 * j < d ? *reinterpret_cast<const __half2*>(src + c + 2 * j) : __float2half2_rn(0.0f);
        }
    }
}

// Writes channels [0, d) of `o` as float16, 16 bytes at a time with `wide` (as load_head).
template <int DM>
__device__ inline void store_head(__half* dst, int d, bool wide, const float (&o)[DM]) {
#pragma unroll
    for (int c = 0; c < DM; c += 8) {
        if (c >= d) break;
        __half2 h[4];
#pragma unroll
        for (int j = 0; j < 4; ++j) h[j] = __floats2half2_rn(o[c + 2 * j], o[c + 2 * j + 1]);
        if (wide) {
            uint4 u;
            u.x = *reinterpret_cast<const unsigned*>(&h[0]), u.y = *reinterpret_cast<const unsigned*>(&h[1]);
            u.z = *reinterpret_cast<const unsigned*>(&h[2]), u.w = *reinterpret_cast<const unsigned*>(&h[3]);
            *reinterpret_cast<uint4*>(dst + c) = u;
        } else {
#pragma unroll
            for (int j = 0; j < 4; ++j)
                if (c + 2 * j < d) *reinterpret_cast<__half2*>(dst + c + 2 * j) = h[j];
        }
    }
}

// A pass-2 token: the numerator and what its features need (its q waits in shared memory).
template <int DM>
struct Pass2Token {
    float o[DM];
    float n, power;       // NaLa: ‖q‖ + 1e-6 and the exponent
    float den, den_opp;   // normalisers (Pola: den for o[0 … d/2), den_opp for o[d/2 … d))
    int y, x;
};

// Pass 2: o = φ̃q·S / (φq·m + 1e-6), channel pair by channel pair: pair c gives the coefficients of S rows c, c+1,
// DM+c, DM+c+1 (NaLa: the RoPE-rotated positive and negative features; Pola: q⁺ and q⁻, with S's top and bottom
// halves swapped in the columns d/2 … d − 1 when staged, so that one product also gives o[d/2 … d) = φ_opp·S₂).
template <int DM, FeatureMap F>
__global__ void __launch_bounds__(kPass2Threads, 3) pass2_kernel(Params p) {
    constexpr int T = pass2_tokens(DM);
    constexpr int kRows = 2 * DM;
    __shared__ __align__(16) float s_state[kPass2StateFloats];
    // Each thread's q, channel pair-major so that a warp's reads of one pair hit 32 consecutive words. Held in
    // registers they cost 16 more at d = 16 (with spills or a 100-register kernel).
    __shared__ __half2 s_q[T][DM / 2][kPass2Threads];
    const int G = p.group_heads, slots = kPass2Threads / G, first_head = blockIdx.y * G;
    const int half_d = p.d / 2;
    for (int e = threadIdx.x; e < G * entries(DM); e += kPass2Threads) {
        const int g = e / entries(DM), r = e - g * entries(DM);
        int to = r;
        if (F == FeatureMap::Pola && r < kRows * DM && r % DM >= half_d) to = (r + DM * DM) % (kRows * DM);
        s_state[g * state_stride(DM) + to] = p.state[(first_head + g) * entries(DM) + r];
    }
    __syncthreads();

    const int g = threadIdx.x % G, slot = threadIdx.x / G;
    if (slot >= slots) return;
    const int head = first_head + g;
    const float* S = s_state + g * state_stride(DM);
    const float* m = S + kRows * DM;
    const std::int64_t t0 = std::int64_t(blockIdx.x) * (T * slots) + slot;
    if (t0 >= p.N) return;

    Pass2Token<DM> tok[T];
#pragma unroll
    for (int k = 0; k < T; ++k) {
        Pass2Token<DM>& a = tok[k];
        const std::int64_t t = t0 + k * slots;
        __half2 q[DM / 2];
        if (t < p.N) load_head<DM>(p.qkvg + t * p.ld + head * p.d, p.d, p.wide, q);
        else
#pragma unroll
            for (int c = 0; c < DM / 2; ++c) q[c] = __float2half2_rn(0.0f);  // computed, never stored
#pragma unroll
        for (int c = 0; c < DM / 2; ++c) s_q[k][c][threadIdx.x] = q[c];
        const unsigned in_image = unsigned(min(t, p.N - 1));  // RoPE position of a token past the end: any valid one
        a.y = in_image / unsigned(p.W), a.x = in_image - unsigned(a.y) * unsigned(p.W);
        a.den = a.den_opp = 1e-6f;
#pragma unroll
        for (int j = 0; j < DM; ++j) a.o[j] = 0.0f;
        if constexpr (F == FeatureMap::Nala) {
            float sq = 0.0f;
#pragma unroll
            for (int c = 0; c < DM / 2; ++c) {
                const float2 f = __half22float2(q[c]);
                sq += f.x * f.x + f.y * f.y;
            }
            a.n = sqrtf(sq) + 1e-6f;
            a.power = 3.0f * (0.5f + tanhf(a.n));
        }
    }

    // Rolled: unrolled, the features of every pair were computed ahead and kept live (125 registers at d = 16).
#pragma unroll 1
    for (int c = 0; c < p.d; c += 2) {
        const float2 m_pos = *reinterpret_cast<const float2*>(m + c);
        const float2 m_neg = *reinterpret_cast<const float2*>(m + DM + c);
        float coef[T][4];  // of S rows c, c + 1, DM + c, DM + c + 1
#pragma unroll
        for (int k = 0; k < T; ++k) {
            Pass2Token<DM>& a = tok[k];
            const float2 q = __half22float2(s_q[k][c / 2][threadIdx.x]);
            if constexpr (F == FeatureMap::Nala) {
                const float2 s0 = split_power(q.x / a.n, a.power), s1 = split_power(q.y / a.n, a.power);
                const float2 pos = make_float2(s0.x, s1.x), neg = make_float2(s0.y, s1.y);
                a.den += pos.x * m_pos.x + pos.y * m_pos.y + neg.x * m_neg.x + neg.y * m_neg.y;
                const float2 cs = rope(p, c, a.y, a.x);
                const float2 rot_pos = rotate(pos, cs), rot_neg = rotate(neg, cs);
                coef[k][0] = rot_pos.x, coef[k][1] = rot_pos.y, coef[k][2] = rot_neg.x, coef[k][3] = rot_neg.y;
            } else {
                const int hc = head * p.d + c;
                const float2 s0 = split_power(q.x * p.inv_sigma[hc], p.power[hc]);
                const float2 s1 = split_power(q.y * p.inv_sigma[hc + 1], p.power[hc + 1]);
                a.den += s0.x * m_pos.x + s1.x * m_pos.y + s0.y * m_neg.x + s1.y * m_neg.y;
                a.den_opp += s0.y * m_pos.x + s1.y * m_pos.y + s0.x * m_neg.x + s1.x * m_neg.y;
                coef[k][0] = s0.x, coef[k][1] = s1.x, coef[k][2] = s0.y, coef[k][3] = s1.y;
            }
        }
        const float* rows[4] = {S + c * DM, S + (c + 1) * DM, S + (DM + c) * DM, S + (DM + c + 1) * DM};
#pragma unroll
        for (int j = 0; j < DM; j += 4)
#pragma unroll
            for (int r = 0; r < 4; ++r) {
                const float4 s = *reinterpret_cast<const float4*>(rows[r] + j);
#pragma unroll
                for (int k = 0; k < T; ++k) {
                    float* o = tok[k].o;
                    o[j] += coef[k][r] * s.x, o[j + 1] += coef[k][r] * s.y;
                    o[j + 2] += coef[k][r] * s.z, o[j + 3] += coef[k][r] * s.w;
                }
            }
    }

#pragma unroll
    for (int k = 0; k < T; ++k) {
        Pass2Token<DM>& a = tok[k];
        const std::int64_t t = t0 + k * slots;
        if (t >= p.N) break;
        const float inv_den = 1.0f / a.den, inv_opp = 1.0f / a.den_opp;
#pragma unroll
        for (int j = 0; j < DM; ++j) a.o[j] *= F == FeatureMap::Pola && j >= half_d ? inv_opp : inv_den;
        store_head(p.qkvg + t * p.ld + head * p.d, p.d, p.wide, a.o);
    }
}

template <int DM, FeatureMap F>
cudaError_t launch(Params p, int heads, cudaStream_t stream) {
    p.partials = p.state + std::int64_t(heads) * entries(DM);
    pass1_kernel<DM, F><<<unsigned(p.blocks * heads), kPass1Threads, 0, stream>>>(p);
    if (cudaError_t e = cudaGetLastError(); e != cudaSuccess) return e;
    const int n = heads * entries(DM);
    reduce_kernel<<<unsigned(div_up(n, 32)), 32 * kReduceSlices, 0, stream>>>(p.partials, p.blocks, entries(DM), heads,
                                                                                1.0 / double(p.N), p.state);
    if (cudaError_t e = cudaGetLastError(); e != cudaSuccess) return e;
    p.group_heads = pass2_group_heads(heads, DM);
    const std::int64_t tile = std::int64_t(pass2_tokens(DM)) * (kPass2Threads / p.group_heads);
    pass2_kernel<DM, F><<<dim3(unsigned(div_up(p.N, tile)), unsigned(heads / p.group_heads)), kPass2Threads, 0,
                          stream>>>(p);
    return cudaGetLastError();
}

template <FeatureMap F>
cudaError_t dispatch(Params p, int heads, cudaStream_t stream) {
    if (p.N == 0) return cudaSuccess;
    pass1_split(p.N, &p.blocks, &p.tokens_per_block);
    switch (padded_head_dim(p.d)) {
        case 8: return launch<8, F>(p, heads, stream);
        case 16: return launch<16, F>(p, heads, stream);
        case 32: return launch<32, F>(p, heads, stream);
        default: return cudaErrorInvalidValue;
    }
}

Params base_params(__half* qkvg, const LinearAttentionShape& s, float* scratch) {
    Params p{};
    p.qkvg = qkvg;
    p.ld = s.ld;
    p.H = s.H, p.W = s.W, p.C = s.C, p.d = s.C / s.heads, p.heads = s.heads;
    p.N = std::int64_t(s.H) * s.W;
    p.state = scratch;
    p.wide = s.ld % 8 == 0 && p.d % 8 == 0 && reinterpret_cast<std::uintptr_t>(qkvg) % 16 == 0;
    return p;
}

bool valid_shape(const LinearAttentionShape& s) {
    return s.heads > 0 && s.C % s.heads == 0 && (s.C / s.heads) % 4 == 0 && s.C / s.heads <= kMaxLinearHeadDim &&
           s.ld >= 4 * s.C && s.ld % 2 == 0;
}

}  // namespace

std::size_t linear_attention_scratch_floats(std::int64_t N, int C, int heads) {
    const int DM = padded_head_dim(C / heads);
    int blocks = 0;
    std::int64_t per = 0;
    pass1_split(N, &blocks, &per);
    return std::size_t(heads) * entries(DM) * (std::size_t(blocks) + 1);
}

cudaError_t nala_attention(__half* qkvg, const LinearAttentionShape& shape, const float2* rope_rows,
                           const float2* rope_cols, float* scratch, cudaStream_t stream) {
    if (!valid_shape(shape)) return cudaErrorInvalidValue;
    Params p = base_params(qkvg, shape, scratch);
    p.rope_rows = rope_rows;
    p.rope_cols = rope_cols;
    return dispatch<FeatureMap::Nala>(p, shape.heads, stream);
}

cudaError_t pola_attention(__half* qkvg, const LinearAttentionShape& shape, const float* kpos_w, const float* kpos_b,
                           const float* inv_sigma, const float* power, float* scratch, cudaStream_t stream) {
    if (!valid_shape(shape)) return cudaErrorInvalidValue;
    Params p = base_params(qkvg, shape, scratch);
    p.kpos_w = kpos_w;
    p.kpos_b = kpos_b;
    p.inv_sigma = inv_sigma;
    p.power = power;
    return dispatch<FeatureMap::Pola>(p, shape.heads, stream);
}

}  // namespace nalasr::kernels
