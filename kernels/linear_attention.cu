#include "common.cuh"
#include "linear_attention.cuh"

#include <algorithm>

namespace nalasr::kernels {
namespace {

enum class FeatureMap { Nala, Pola };

constexpr int kPass1Threads = 256;
constexpr int kChunk = 64;      // tokens staged in shared memory at a time by pass 1
constexpr int kMaxBlocks = 512; // pass-1 blocks per head: bounds the partials to ~0.5 MB per head at d = 16

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

// Pola's key after steps 1-2: (k + kpos(k)) / σ for global channel hc at token t.
__device__ inline float pola_key(const Params& p, std::int64_t t, int y, int x, int hc) {
    const __half* k = p.qkvg + p.C + hc;
    float a = __half2float(k[t * p.ld]) + p.kpos_b[hc];
    for (int tap = 0; tap < 9; ++tap) {
        const int ny = y + tap / 3 - 1, nx = x + tap % 3 - 1;
        if (ny < 0 || ny >= p.H || nx < 0 || nx >= p.W) continue;
        a += p.kpos_w[tap * p.C + hc] * __half2float(k[(std::int64_t(ny) * p.W + nx) * p.ld]);
    }
    return a * p.inv_sigma[hc];
}

// A NaLa pass-1 thread's global loads for one chunk: item i is the channel pair c = 2·(idx mod DM/2) of token
// idx / (DM/2), idx = threadIdx.x + i·kPass1Threads: k, v and the RoPE (cos, sin). (Pola builds its key from 9
// neighbours and loads while staging.)
template <int DM>
struct ChunkLoads {
    static constexpr int kItems = kChunk * (DM / 2) / kPass1Threads;
    static_assert(kItems >= 1 && kItems * kPass1Threads == kChunk * (DM / 2), "whole items per thread");
    __half2 k[kItems], v[kItems];
    float2 cs[kItems];
};

template <int DM>
__device__ inline void load_chunk(const Params& p, int head, std::int64_t chunk, std::int64_t t_end,
                                  ChunkLoads<DM>& out) {
#pragma unroll
    for (int i = 0; i < ChunkLoads<DM>::kItems; ++i) {
        const int idx = threadIdx.x + i * kPass1Threads;
        const int tl = idx / (DM / 2), c = 2 * (idx % (DM / 2));
        const std::int64_t t = chunk + tl;
        out.k[i] = out.v[i] = __float2half2_rn(0.0f);
        out.cs[i] = make_float2(1.0f, 0.0f);
        if (t >= t_end || c >= p.d) continue;
        const __half* row = p.qkvg + t * p.ld + head * p.d + c;
        out.k[i] = *reinterpret_cast<const __half2*>(row + p.C);
        out.v[i] = *reinterpret_cast<const __half2*>(row + 2 * p.C);
        const int y = unsigned(t) / unsigned(p.W), x = unsigned(t) - unsigned(y) * unsigned(p.W);
        out.cs[i] = rope(p, c, y, x);
    }
}

// Row stride (floats) of the staged φk and φ̃k: 2·DM entries padded so that the 8-byte stores of a half-warp
// (DM/2 pairs of each of 32/DM tokens) fall in distinct banks: with 2·DM = 16 or 32, tokens a row apart would
// otherwise hit the same banks (2- to 4-way conflicts on every staging store).
constexpr int stage_stride(int DM) { return DM < 32 ? 3 * DM : 2 * DM; }

__device__ inline void store2(float* p, float2 v) { *reinterpret_cast<float2*>(p) = v; }

// Stages channel pair (c, c + 1) of token tl of a chunk: φk (positive half, then negative half), the form S
// is built from (RoPE-rotated for NaLa) and v.
template <int DM>
__device__ inline void stage_pair(float* s_raw, float* s_rot, float* s_v, int tl, int c, float2 pos, float2 neg,
                                  float2 rot_pos, float2 rot_neg, float2 v) {
    float* raw = s_raw + tl * stage_stride(DM);
    float* rot = s_rot + tl * stage_stride(DM);
    store2(raw + c, pos), store2(raw + DM + c, neg);
    store2(rot + c, rot_pos), store2(rot + DM + c, rot_neg);
    store2(s_v + tl * DM + c, v);
}

// Pass 1. Thread layout for the S accumulation: groups of DM²/8 threads, each thread a 4×4 tile of S; the
// groups take interleaved tokens of the chunk and are summed in a fixed order at the end. The launch bounds keep
// 4 blocks per SM (64 registers), so other blocks' warps hide each block's waits at its barriers.
template <int DM, FeatureMap F>
__global__ void __launch_bounds__(kPass1Threads, 4) pass1_kernel(Params p) {
    constexpr int kRows = 2 * DM;
    constexpr int kGroupThreads = DM * DM / 8;
    constexpr int kGroups = kPass1Threads / kGroupThreads;
    constexpr int kColTiles = DM / 4;
    constexpr int kStride = stage_stride(DM);
    constexpr int kStageFloats = kChunk * (kStride + kStride + DM);
    constexpr int kReduceFloats = kGroups * kRows * DM;
    __shared__ __align__(16) float smem[kStageFloats > kReduceFloats ? kStageFloats : kReduceFloats];
    float* s_rot = smem;                     // φ̃k, [kChunk][kStride], kRows used
    float* s_raw = s_rot + kChunk * kStride; // φk, [kChunk][kStride], kRows used
    float* s_v = s_raw + kChunk * kStride;   // v, [kChunk][DM]

    const int head = blockIdx.y, tid = threadIdx.x;
    const std::int64_t t_begin = std::int64_t(blockIdx.x) * p.tokens_per_block;
    const std::int64_t t_end = min(p.N, t_begin + p.tokens_per_block);
    const int group = tid / kGroupThreads, in_group = tid % kGroupThreads;
    const int r0 = (in_group / kColTiles) * 4, c0 = (in_group % kColTiles) * 4;

    // The mean key: thread tid sums row tid mod kRows over the tokens ≡ tid / kRows (mod kMeanGroups).
    constexpr int kMeanGroups = kPass1Threads / kRows;
    const int mean_row = tid % kRows, mean_group = tid / kRows;
    float acc[4][4] = {};
    float mean_acc = 0.0f;
    ChunkLoads<DM> next;  // NaLa: the loads of the chunk to stage next
    if constexpr (F == FeatureMap::Nala) load_chunk(p, head, t_begin, t_end, next);
    for (std::int64_t chunk = t_begin; chunk < t_end; chunk += kChunk) {
        if constexpr (F == FeatureMap::Nala) {
#pragma unroll
            for (int i = 0; i < ChunkLoads<DM>::kItems; ++i) {
                const int idx = tid + i * kPass1Threads;
                const int tl = idx / (DM / 2), c = 2 * (idx % (DM / 2));
                // Zero loads (past the end, padding channels) give zero features.
                const float2 k = __half22float2(next.k[i]);
                const float k0 = k.x * k.x * k.x, k1 = k.y * k.y * k.y;
                const float2 pos = make_float2(fmaxf(k0, 0.0f), fmaxf(k1, 0.0f));
                const float2 neg = make_float2(fmaxf(-k0, 0.0f), fmaxf(-k1, 0.0f));
                stage_pair<DM>(s_raw, s_rot, s_v, tl, c, pos, neg, rotate(pos, next.cs[i]), rotate(neg, next.cs[i]),
                               __half22float2(next.v[i]));
            }
            // The next chunk's loads are issued now and land while this chunk is accumulated.
            if (chunk + kChunk < t_end) load_chunk(p, head, chunk + kChunk, t_end, next);
        } else {
            for (int idx = tid; idx < kChunk * (DM / 2); idx += kPass1Threads) {
                const int tl = idx / (DM / 2), c = 2 * (idx % (DM / 2));
                const std::int64_t t = chunk + tl;
                float2 pos = make_float2(0.0f, 0.0f), neg = pos, v = pos;
                if (t < t_end && c < p.d) {
                    const int hc = head * p.d + c;
                    v = __half22float2(*reinterpret_cast<const __half2*>(p.qkvg + t * p.ld + 2 * p.C + hc));
                    const int y = unsigned(t) / unsigned(p.W), x = unsigned(t) - unsigned(y) * unsigned(p.W);
                    const float k0 = pola_key(p, t, y, x, hc), k1 = pola_key(p, t, y, x, hc + 1);
                    const float p0 = p.power[hc], p1 = p.power[hc + 1];
                    const float2 s0 = split_power(k0, p0), s1 = split_power(k1, p1);
                    pos = make_float2(s0.x, s1.x);
                    neg = make_float2(s0.y, s1.y);
                }
                stage_pair<DM>(s_raw, s_rot, s_v, tl, c, pos, neg, pos, neg, v);
            }
        }
        __syncthreads();
        for (int tl = group; tl < kChunk; tl += kGroups) {
            const float4 a = *reinterpret_cast<const float4*>(s_rot + tl * kStride + r0);
            const float4 b = *reinterpret_cast<const float4*>(s_v + tl * DM + c0);
            const float av[4] = {a.x, a.y, a.z, a.w}, bv[4] = {b.x, b.y, b.z, b.w};
#pragma unroll
            for (int i = 0; i < 4; ++i)
#pragma unroll
                for (int j = 0; j < 4; ++j) acc[i][j] += av[i] * bv[j];
        }
        for (int tl = mean_group; tl < kChunk; tl += kMeanGroups) mean_acc += s_raw[tl * kStride + mean_row];
        __syncthreads();
    }

    __shared__ float red_mean[kPass1Threads];
    float* red = smem;  // reused: every thread is past the last barrier of the staging loop
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) red[group * kRows * DM + (r0 + i) * DM + c0 + j] = acc[i][j];
    red_mean[tid] = mean_acc;
    __syncthreads();
    float* out = p.partials + (std::int64_t(head) * p.blocks + blockIdx.x) * entries(DM);
    for (int e = tid; e < kRows * DM; e += kPass1Threads) {
        float s = 0.0f;
        for (int g = 0; g < kGroups; ++g) s += red[g * kRows * DM + e];
        out[e] = s;
    }
    if (tid < kRows) {
        float s = 0.0f;
        for (int g = 0; g < kMeanGroups; ++g) s += red_mean[g * kRows + tid];
        out[kRows * DM + tid] = s;
    }
}

// Sums the partials of every block in float64 and divides by N. A block takes 32 entries; its 8 warps sum the
// pass-1 blocks ≡ warp (mod 8), and warp 0 adds the 8 sums in order: a fixed order, so a deterministic result.
constexpr int kReduceSlices = 8;
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
#pragma unroll 4
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
    pass1_kernel<DM, F><<<dim3(unsigned(p.blocks), unsigned(heads)), kPass1Threads, 0, stream>>>(p);
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
    p.H = s.H, p.W = s.W, p.C = s.C, p.d = s.C / s.heads;
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
