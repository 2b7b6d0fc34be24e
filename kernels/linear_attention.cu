#include "common.cuh"
#include "linear_attention.cuh"

namespace nalasr::kernels {
namespace {

enum class FeatureMap { Nala, Pola };

constexpr int kPass1Threads = 256;
constexpr int kPass2Threads = 128;
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

// A head's d channels of one token as float32, zeros up to DM. With `wide` (d a multiple of 8, `src` 16-byte
// aligned) 16-byte loads: a warp's 32 tokens lie a row apart, so every load touches 32 cache lines, and 4-byte
// loads would take 4× as many of those.
template <int DM>
__device__ inline void load_head(const __half* src, int d, bool wide, float (&q)[DM]) {
#pragma unroll
    for (int c = 0; c < DM; c += 8) {
        __half2 h[4];
        if (wide && c < d) {
            const uint4 u = *reinterpret_cast<const uint4*>(src + c);
            h[0] = *reinterpret_cast<const __half2*>(&u.x), h[1] = *reinterpret_cast<const __half2*>(&u.y);
            h[2] = *reinterpret_cast<const __half2*>(&u.z), h[3] = *reinterpret_cast<const __half2*>(&u.w);
        } else {
#pragma unroll
            for (int j = 0; j < 4; ++j)
                h[j] = c + 2 * j < d ? *reinterpret_cast<const __half2*>(src + c + 2 * j) : __float2half2_rn(0.0f);
        }
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const float2 f = __half22float2(h[j]);
            q[c + 2 * j] = f.x, q[c + 2 * j + 1] = f.y;
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

// Pass 2: one thread per (token, head).
template <int DM, FeatureMap F>
__global__ void __launch_bounds__(kPass2Threads) pass2_kernel(Params p) {
    constexpr int kRows = 2 * DM;
    __shared__ __align__(16) float s_state[entries(DM)];
    const int head = blockIdx.y;
    for (int e = threadIdx.x; e < entries(DM); e += kPass2Threads) s_state[e] = p.state[head * entries(DM) + e];
    __syncthreads();
    const float* S = s_state;
    const float* m = s_state + kRows * DM;

    const std::int64_t t = std::int64_t(blockIdx.x) * kPass2Threads + threadIdx.x;
    if (t >= p.N) return;
    __half* q_ptr = p.qkvg + t * p.ld + head * p.d;
    float q[DM];
    load_head(q_ptr, p.d, p.wide, q);

    float o[DM];
    if constexpr (F == FeatureMap::Nala) {
        float sq = 0.0f;
#pragma unroll
        for (int c = 0; c < DM; ++c) sq += q[c] * q[c];
        const float n = sqrtf(sq) + 1e-6f;
        const float power = 3.0f * (0.5f + tanhf(n));
        float phi[kRows];
#pragma unroll
        for (int c = 0; c < DM; ++c) {
            const float2 split = split_power(q[c] / n, power);
            phi[c] = split.x;
            phi[DM + c] = split.y;
        }
        float den = 1e-6f;
#pragma unroll
        for (int i = 0; i < kRows; ++i) den += phi[i] * m[i];
        const int y = unsigned(t) / unsigned(p.W), x = unsigned(t) - unsigned(y) * unsigned(p.W);
#pragma unroll
        for (int c = 0; c < DM; c += 2) {
            if (c >= p.d) continue;
            const float2 cs = rope(p, c, y, x);
            const float2 a = rotate(make_float2(phi[c], phi[c + 1]), cs);
            const float2 b = rotate(make_float2(phi[DM + c], phi[DM + c + 1]), cs);
            phi[c] = a.x, phi[c + 1] = a.y, phi[DM + c] = b.x, phi[DM + c + 1] = b.y;
        }
#pragma unroll
        for (int j = 0; j < DM; ++j) o[j] = 0.0f;
#pragma unroll
        for (int i = 0; i < kRows; ++i)
#pragma unroll
            for (int j = 0; j < DM; j += 4) {
                const float4 s = *reinterpret_cast<const float4*>(S + i * DM + j);
                o[j] += phi[i] * s.x, o[j + 1] += phi[i] * s.y, o[j + 2] += phi[i] * s.z, o[j + 3] += phi[i] * s.w;
            }
        const float inv_den = 1.0f / den;
#pragma unroll
        for (int j = 0; j < DM; ++j) o[j] *= inv_den;
    } else {
        // φ_sim = [q⁺, q⁻] meets S₁ = S[:, 0 … d/2) and gives o[0 … d/2); φ_opp = [q⁻, q⁺] meets
        // S₂ = S[:, d/2 … d) and gives o[d/2 … d). Both products are formed over all columns; o picks its half.
        float plus[DM], minus[DM];
#pragma unroll
        for (int c = 0; c < DM; ++c) {
            plus[c] = minus[c] = 0.0f;
            if (c >= p.d) continue;
            const int hc = head * p.d + c;
            const float qs = q[c] * p.inv_sigma[hc];
            const float2 split = split_power(qs, p.power[hc]);
            plus[c] = split.x;
            minus[c] = split.y;
        }
        float den_sim = 1e-6f, den_opp = 1e-6f;
        float sim[DM], opp[DM];
#pragma unroll
        for (int j = 0; j < DM; ++j) sim[j] = opp[j] = 0.0f;
#pragma unroll
        for (int c = 0; c < DM; ++c) {
            den_sim += plus[c] * m[c] + minus[c] * m[DM + c];
            den_opp += minus[c] * m[c] + plus[c] * m[DM + c];
#pragma unroll
            for (int j = 0; j < DM; ++j) {
                sim[j] += plus[c] * S[c * DM + j] + minus[c] * S[(DM + c) * DM + j];
                opp[j] += minus[c] * S[c * DM + j] + plus[c] * S[(DM + c) * DM + j];
            }
        }
        const int half_d = p.d / 2;
#pragma unroll
        for (int j = 0; j < DM; ++j) {
            o[j] = 0.0f;
            if (j < half_d) o[j] = sim[j] / den_sim;
            else if (j < p.d) o[j] = opp[j] / den_opp;
        }
    }
    store_head(q_ptr, p.d, p.wide, o);
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
    pass2_kernel<DM, F><<<dim3(unsigned(div_up(p.N, kPass2Threads)), unsigned(heads)), kPass2Threads, 0, stream>>>(p);
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
