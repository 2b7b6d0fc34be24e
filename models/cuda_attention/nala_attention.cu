// NaLa attention core (docs/model.md, "NaLa"), forward and backward, for the PyTorch twin's training step.
// Same op and kernel split as triton_attention.py's NaLa kernels (spec: attention_math.nala_plain); built and
// called by cuda_attention.py through ctypes, which allocates every buffer (nothing is allocated here).
//
//   state  one block = one (image, head) x `chunk` tokens, walked in tiles of TILE tokens: two threads a token (each
//          half of its channels; one for bf16 d 8) build its rot(phi_k) (2d), v (d) and phi_k (2d) into shared
//          memory, then the warps add the tile
//          to sum rot(phi_k)^T v (2d x d) on the tensor cores (3xTF32; float64: FMAs) and to sum phi_k.
//          Per-chunk partial sums go to `part`; finish_kernel sums them over the chunks in a fixed order
//          (deterministic, no atomics).
//   out    one thread a token, its head's S and m in shared memory: o = rot(phi_q) S / (phi_q . m + eps).
//   qbwd   as state, on the query side: per token dq; partial sums of rot(phi_q)^T dnum and phi_q dden.
//   kbwd   as out: per token dk, dv from dS / N, dm / N.
//   Their per-token products x S and S y are FMA loops: on the tensor cores (3xTF32 m16n8k8, four lanes a token,
//   S in registers) out / qbwd / kbwd measured slower on an H100 (session 8: a block's forward + backward 367.6
//   against 346.3 us), so that path was removed.
// RoPE rotates the adjacent pairs (2i, 2i+1) of each d-wide half of a feature map by entry i of the token's
// (d/2)-wide cos / sin rows (rows y for the first d/2 channels of a half, columns x for the rest).
// Elements: q, k, v (and dq, dk, dv) bf16 / fp16 / fp32 with float32 math, or fp64 with float64 math; the
// output, dout, the tables, S, m and the partials in the math type. Token strides any, channel stride 1.
#include <cstdint>

#include "../cuda_ext.cuh"

#ifndef REDUCE_THREADS
#define REDUCE_THREADS 128
#endif
#ifndef TOKEN_THREADS
#define TOKEN_THREADS 128
#endif
#ifndef REDUCE_MIN_BLOCKS
#define REDUCE_MIN_BLOCKS 1
#endif
#ifndef TOKEN_MIN_BLOCKS
#define TOKEN_MIN_BLOCKS 1
#endif
#define FINISH_THREADS 256
#define SMEM_BYTES 49152  // static shared memory limit a block

extern "C" {
// Every field is 8 bytes, so the layout has no padding (mirrored by cuda_attention.py's ctypes Structure).
typedef struct {
    const void* q;     // (B, N, C) element type; out, qbwd
    const void* k;     // state, kbwd
    const void* v;     // state, kbwd
    const void* dout;  // qbwd: (B, N, C) math type
    const void* cos;   // (N, d/2) math type, contiguous
    const void* sin;
    const void* s_in;  // out, qbwd: S (B*h, 2d, d); kbwd: dS (sum over tokens, not / N); math type
    const void* m_in;  // out, qbwd: m (B*h, 2d); kbwd: dm
    void* out;         // out: o (B, N, C) math type
    void* dq;          // qbwd: element type
    void* dk;          // kbwd
    void* dv;          // kbwd
    void* part;        // state, qbwd: (B*h, chunks, 2d*d + 2d) math type
    void* s_out;       // state: S; qbwd: dS (B*h, 2d, d)
    void* m_out;       // state: m; qbwd: dm (B*h, 2d)
    void* stream;
    long long sqb, sqn, skb, skn, svb, svn, sdob, sdon, sob, son, sdqb, sdqn, sdkb, sdkn, sdvb, sdvn;
    long long B, N, heads, d, dtype, chunk, chunks, device;
} NalasrNalaArgs;
}

enum { ERR_DTYPE = -1, ERR_HEAD_DIM = -2, ERR_GEOMETRY = -3 };

__device__ __forceinline__ float dsqrt(float x) { return sqrtf(x); }
__device__ __forceinline__ double dsqrt(double x) { return sqrt(x); }
// float: the hardware approximations (QueryParts only: log u for u in (0, 1], exp(p log u) <= 1). __logf is off by
// <= 2^-21.4 absolute on [0.5, 2], 3 ulp elsewhere; __expf by 2 + 1.17 |x| ulp, large only where f = exp(x) is
// tiny. f is then ~1e-6 relative off at worst, against check_cuda_attention's 1e-4 (out) and 1e-3 (gradients)
// for float32 inputs vs float64 (check_attention_cuda_cpu emulates the bounds: ~3e-7). The accurate calls were
// ~400 of out's 2072 SASS instructions. float64 (the 1e-12 checks, gradcheck) keeps the accurate ones.
__device__ __forceinline__ float dexp(float x) { return __expf(x); }
__device__ __forceinline__ double dexp(double x) { return exp(x); }
__device__ __forceinline__ float dlog(float x) { return __logf(x); }
__device__ __forceinline__ double dlog(double x) { return log(x); }
__device__ __forceinline__ float dtanh(float x) { return tanhf(x); }
__device__ __forceinline__ double dtanh(double x) { return tanh(x); }
// x / y to ~2 ulp (reciprocal + multiply) in float: the IEEE division is a ~10-instruction call, 16 a token in qbwd
__device__ __forceinline__ float ddiv(float x, float y) { return __fdividef(x, y); }
__device__ __forceinline__ double ddiv(double x, double y) { return x / y; }

template <class A>
struct Consts {
    static constexpr A eps = A(1e-6);   // norm and normaliser guard (attention_math.NALA_EPS)
    static constexpr A tiny = A(1e-30);  // keeps log finite where the zero mask discards the value
};

constexpr int PAD = 8;  // a tile's rows are staged (zero past the tokens) up to a multiple of PAD: one MMA step

// A tile's staged columns come in groups of d/2 (TileStage): x = d/2 columns of TILE + 4 entries, padded to 16
// entries past a multiple of 32 so that consecutive groups start 16 float banks apart.
__host__ __device__ constexpr int group_stride(int x) { return x + (48 - x % 32) % 32; }

// Entries of a tile's staged columns: 2d + d + 2d columns = 10 groups.
template <int D>
__host__ __device__ constexpr int stage_elems(int tile) { return 10 * group_stride(D / 2 * (tile + 4)); }

// Tokens a tile of the reducing kernels: the widest power of 2 <= REDUCE_THREADS whose staged columns fit next to
// `extra` bytes in the static shared memory.
template <class A, int D>
__host__ __device__ constexpr int tile_tokens(int extra) {
    int t = REDUCE_THREADS;
    while (t > PAD && stage_elems<D>(t) * static_cast<int>(sizeof(A)) + extra > SMEM_BYTES) t /= 2;
    return t;
}

// ------------------------------------------------------------------------------------------ per-token math

// N consecutive elements from p (math type A), as 16-byte vectors where p is 16-byte aligned (every row is when
// the base pointer and the strides are, e.g. chunks of the qkvg output), else one by one. A warp's rows lie 32
// cache lines apart, so each load instruction costs ~32 L1 wavefronts whatever its width: one 16-byte load
// for 8 bf16 / 4 floats instead of 8 / 4 scalar loads is what keeps these kernels off the L1 limit (and state's
// two lanes a token, reading half a row each, halve the lines an instruction touches).

// Elements <-> 32-bit words, by value (no type punning through memory: LLVM split punned 16-byte vectors into
// 2-element stores of bf16 rows and scalar stores of float rows).
__device__ __forceinline__ uint32_t bits16(__nv_bfloat16 x) { return __bfloat16_as_ushort(x); }
__device__ __forceinline__ uint32_t bits16(__half x) { return __half_as_ushort(x); }
template <class T>
__device__ __forceinline__ T from_bits16(uint32_t u);
template <>
__device__ __forceinline__ __nv_bfloat16 from_bits16<__nv_bfloat16>(uint32_t u) {
    return __ushort_as_bfloat16(static_cast<unsigned short>(u));
}
template <>
__device__ __forceinline__ __half from_bits16<__half>(uint32_t u) { return __ushort_as_half(static_cast<unsigned short>(u)); }

// 16 bytes of elements of type T (16 / sizeof(T) of them, math type A) <-> 4 words
template <class T, class A>
__device__ __forceinline__ void to_words(const A* x, uint32_t (&w)[4]) {
    if constexpr (sizeof(T) == 2) {
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            T lo, hi;
            store_as(&lo, x[2 * i]);
            store_as(&hi, x[2 * i + 1]);
            w[i] = bits16(lo) | (bits16(hi) << 16);
        }
    } else if constexpr (sizeof(T) == 4) {
#pragma unroll
        for (int i = 0; i < 4; ++i) w[i] = __float_as_uint(static_cast<float>(x[i]));
    } else {
#pragma unroll
        for (int i = 0; i < 2; ++i) {
            w[2 * i] = static_cast<uint32_t>(__double2loint(static_cast<double>(x[i])));
            w[2 * i + 1] = static_cast<uint32_t>(__double2hiint(static_cast<double>(x[i])));
        }
    }
}
template <class T, class A>
__device__ __forceinline__ void from_words(const uint32_t (&w)[4], A* x) {
    if constexpr (sizeof(T) == 2) {
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            x[2 * i] = to_acc<A>(from_bits16<T>(w[i] & 0xffffu));
            x[2 * i + 1] = to_acc<A>(from_bits16<T>(w[i] >> 16));
        }
    } else if constexpr (sizeof(T) == 4) {
#pragma unroll
        for (int i = 0; i < 4; ++i) x[i] = A(__uint_as_float(w[i]));
    } else {
#pragma unroll
        for (int i = 0; i < 2; ++i) x[i] = A(__hiloint2double(static_cast<int>(w[2 * i + 1]), static_cast<int>(w[2 * i])));
    }
}

// One 16-byte store instruction (p in global memory, 16-byte aligned): written in PTX because LLVM turned a uint4
// store of float bits into four scalar stores where the alignment was only known from the run-time check. The
// outputs stored are never read back by the kernel, so no memory clobber is needed.
__device__ __forceinline__ void store_words(void* p, const uint32_t (&w)[4]) {
    const size_t g = __cvta_generic_to_global(p);
    asm volatile("st.global.v4.b32 [%0], {%1, %2, %3, %4};" ::"l"(g), "r"(w[0]), "r"(w[1]), "r"(w[2]), "r"(w[3]));
}

template <int N, class T, class A>
__device__ __forceinline__ void load_row(const T* p, A (&x)[N]) {
    constexpr int V = 16 / static_cast<int>(sizeof(T));
    static_assert(N % V == 0, "rows of whole 16-byte vectors (head widths 8 and 16, halves, cos / sin rows)");
    if ((reinterpret_cast<uintptr_t>(p) & 15) == 0) {
#pragma unroll
        for (int c = 0; c < N; c += V) {
            const uint4 u = *reinterpret_cast<const uint4*>(p + c);
            const uint32_t w[4] = {u.x, u.y, u.z, u.w};
            from_words<T>(w, x + c);
        }
    } else {
#pragma unroll
        for (int c = 0; c < N; ++c) x[c] = to_acc<A>(p[c]);
    }
}

template <int N, class T, class A>
__device__ __forceinline__ void store_row(T* p, const A (&x)[N]) {
    constexpr int V = 16 / static_cast<int>(sizeof(T));
    static_assert(N % V == 0, "rows of whole 16-byte vectors");
    if ((reinterpret_cast<uintptr_t>(p) & 15) == 0) {
#pragma unroll
        for (int c = 0; c < N; c += V) {
            uint32_t w[4];
            to_words<T>(x + c, w);
            store_words(p + c, w);
        }
    } else {
#pragma unroll
        for (int c = 0; c < N; ++c) store_as(p + c, x[c]);
    }
}

template <int D, class T, class A>
__device__ __forceinline__ void load_head(const void* base, long long sb, long long sn, long long b, long long t,
                                          long long h, A (&x)[D]) {
    load_row<D>(static_cast<const T*>(base) + b * sb + t * sn + h * D, x);
}

template <int D, class T, class A>
__device__ __forceinline__ void store_head(void* base, long long sb, long long sn, long long b, long long t,
                                           long long h, const A (&x)[D]) {
    store_row<D>(static_cast<T*>(base) + b * sb + t * sn + h * D, x);
}

// The token's cos / sin entries for part `part` of P of its channels (W = d / P of them, in each half of a 2d-wide
// map: the rotation pairs adjacent channels, so parts of whole pairs rotate on their own): entry i rotates pair
// (2i, 2i+1) of the part in each half.
template <int D, class A, int P = 1>
struct Rope {
    static constexpr int W = D / P;
    A cs[W / 2], sn[W / 2];
    __device__ __forceinline__ Rope(const void* cos, const void* sin, long long t, int part = 0) {
        load_row<W / 2>(static_cast<const A*>(cos) + t * (D / 2) + part * (W / 2), cs);
        load_row<W / 2>(static_cast<const A*>(sin) + t * (D / 2) + part * (W / 2), sn);
    }
    // y = rot(x) on the part's 2W entries (W of each half): a' = a cos - b sin, b' = a sin + b cos
    __device__ __forceinline__ void apply(const A (&x)[2 * W], A (&y)[2 * W]) const {
#pragma unroll
        for (int e = 0; e < 2 * W; e += 2) {
            const int i = (e % W) / 2;
            y[e] = x[e] * cs[i] - x[e + 1] * sn[i];
            y[e + 1] = x[e] * sn[i] + x[e + 1] * cs[i];
        }
    }
    // y = rot^T(x): the gradient through apply
    __device__ __forceinline__ void apply_t(const A (&x)[2 * W], A (&y)[2 * W]) const {
#pragma unroll
        for (int e = 0; e < 2 * W; e += 2) {
            const int i = (e % W) / 2;
            y[e] = x[e] * cs[i] + x[e + 1] * sn[i];
            y[e + 1] = x[e + 1] * cs[i] - x[e] * sn[i];
        }
    }
};

// phi_k = [relu(k^3), relu(-k^3)]
template <int D, class A>
__device__ __forceinline__ void key_map(const A (&k)[D], A (&phi)[2 * D]) {
#pragma unroll
    for (int c = 0; c < D; ++c) {
        const A k3 = k[c] * k[c] * k[c];
        phi[c] = k3 > A(0) ? k3 : A(0);
        phi[D + c] = k3 < A(0) ? -k3 : A(0);
    }
}

// dk from the gradient g reaching phi_k
template <int D, class A>
__device__ __forceinline__ void key_map_bwd(const A (&k)[D], const A (&g)[2 * D], A (&dk)[D]) {
#pragma unroll
    for (int c = 0; c < D; ++c) {
        const A sel = k[c] > A(0) ? g[c] : (k[c] < A(0) ? -g[D + c] : A(0));
        dk[c] = A(3) * k[c] * k[c] * sel;
    }
}

// |q|, 1/n (n = |q| + eps), tanh n, p = 3 (0.5 + tanh n); per channel log(|q|/n) and f = (|q|/n)^p (0 at 0).
template <int D, class A>
struct QueryParts {
    A nrm, inv_n, th, p, logu[D], f[D];
    __device__ __forceinline__ explicit QueryParts(const A (&q)[D]) {
        A ss = A(0);
#pragma unroll
        for (int c = 0; c < D; ++c) ss += q[c] * q[c];
        nrm = dsqrt(ss);
        const A n = nrm + Consts<A>::eps;
        inv_n = A(1) / n;
        th = dtanh(n);
        p = A(3) * (A(0.5) + th);
#pragma unroll
        for (int c = 0; c < D; ++c) {
            const A u = fabs(q[c]) * inv_n;
            logu[c] = dlog(u > Consts<A>::tiny ? u : Consts<A>::tiny);
            f[c] = q[c] != A(0) ? dexp(p * logu[c]) : A(0);
        }
    }
    // phi_q = [f where q > 0, f where q < 0]
    __device__ __forceinline__ void halves(const A (&q)[D], A (&phi)[2 * D]) const {
#pragma unroll
        for (int c = 0; c < D; ++c) {
            phi[c] = q[c] > A(0) ? f[c] : A(0);
            phi[D + c] = q[c] < A(0) ? f[c] : A(0);
        }
    }
    // dq from the gradient g reaching phi_q (the exponent p depends on |q| too: triton_attention's
    // _nala_query_map_bwd): p g f / q + q (3 (1 - tanh^2 n) F2 - p F1 / n) / |q|, F1 = sum g f, F2 = sum g f log u
    __device__ __forceinline__ void backward(const A (&q)[D], const A (&g)[2 * D], A (&dq)[D]) const {
        A gs[D], f1 = A(0), f2 = A(0);
#pragma unroll
        for (int c = 0; c < D; ++c) {
            gs[c] = q[c] > A(0) ? g[c] : (q[c] < A(0) ? g[D + c] : A(0));
            const A gf = gs[c] * f[c];
            f1 += gf;
            f2 += gf * logu[c];
        }
        const A per_token = (A(3) * (A(1) - th * th) * f2 - p * inv_n * f1) / (nrm > Consts<A>::tiny ? nrm : Consts<A>::tiny);
#pragma unroll
        for (int c = 0; c < D; ++c) dq[c] = p * gs[c] * ddiv(f[c], q[c] != A(0) ? q[c] : A(1)) + q[c] * per_token;
    }
};

// Four consecutive entries of a 16-byte aligned shared array in one vector load (LDS.128).
__device__ __forceinline__ void load4(const float* p, float (&x)[4]) {
    const float4 v = *reinterpret_cast<const float4*>(p);
    x[0] = v.x, x[1] = v.y, x[2] = v.z, x[3] = v.w;
}
__device__ __forceinline__ void load4(const double* p, double (&x)[4]) {
    const double2 a = *reinterpret_cast<const double2*>(p), b = *reinterpret_cast<const double2*>(p + 2);
    x[0] = a.x, x[1] = a.y, x[2] = b.x, x[3] = b.y;
}

// y = x M for x (2d), M (2d x d) row-major in shared memory (every lane reads the same entries: a broadcast)
template <int D, class A>
__device__ __forceinline__ void vec_mat(const A (&x)[2 * D], const A* m, A (&y)[D]) {
#pragma unroll
    for (int j = 0; j < D; ++j) y[j] = A(0);
#pragma unroll
    for (int e = 0; e < 2 * D; ++e)
#pragma unroll
        for (int j = 0; j < D; j += 4) {
            A m4[4];
            load4(m + e * D + j, m4);
#pragma unroll
            for (int u = 0; u < 4; ++u) y[j + u] += x[e] * m4[u];
        }
}

// y = M x for x (d): y[e] = sum_j M[e, j] x[j]
template <int D, class A>
__device__ __forceinline__ void mat_vec(const A* m, const A (&x)[D], A (&y)[2 * D]) {
#pragma unroll
    for (int e = 0; e < 2 * D; ++e) {
        A s = A(0);
#pragma unroll
        for (int j = 0; j < D; j += 4) {
            A m4[4];
            load4(m + e * D + j, m4);
#pragma unroll
            for (int u = 0; u < 4; ++u) s += m4[u] * x[j + u];
        }
        y[e] = s;
    }
}

template <int D, class A>
__device__ __forceinline__ A dot2d(const A (&x)[2 * D], const A* m) {
    A s = A(0);
#pragma unroll
    for (int e = 0; e < 2 * D; e += 4) {
        A m4[4];
        load4(m + e, m4);
#pragma unroll
        for (int u = 0; u < 4; ++u) s += x[e + u] * m4[u];
    }
    return s;
}

// The head's 2d x d matrix and 2d vector (each divided by `divisor` if > 0) into shared memory.
template <int D, class A>
__device__ __forceinline__ void stage_head(const void* mat, const void* vec, long long bh, long long divisor,
                                           A* s_mat, A* s_vec) {
    const A* gm = static_cast<const A*>(mat) + bh * 2 * D * D;
    const A* gv = static_cast<const A*>(vec) + bh * 2 * D;
    for (int i = threadIdx.x; i < 2 * D * D; i += blockDim.x) s_mat[i] = divisor > 0 ? gm[i] / A(divisor) : gm[i];
    for (int i = threadIdx.x; i < 2 * D; i += blockDim.x) s_vec[i] = divisor > 0 ? gv[i] / A(divisor) : gv[i];
}

// ---------------------------------------------------------------------------------------- token reductions

// One block's sums over its chunk of sum a^T b (2d x d) and sum c (2d), the tile's rows a (2d), b (d), c (2d)
// staged in shared memory column-major (token-minor: the threads' writes hit consecutive banks, and the sums read
// several tokens of a column in one load), by one thread a token or by P = 2 threads a token, part p staging
// entries [p d/2, (p + 1) d/2) of b and of each d-wide half of a and c. Columns come in groups of GW = d/2, GROUP
// entries apart (16 float banks past a multiple of 32: the two lanes of a token, storing the same entry of their
// parts, hit other banks). Rows up to the next multiple of PAD are staged zero (read by the last load or
// tensor-core step, adding nothing).

template <int D, class A, int TILE>
struct TileStage {
    static constexpr int E = 2 * D, GW = D / 2;
    static constexpr int LD = TILE + 4;  // column stride: 16-byte aligned, and columns e, e + 1 in other banks
    static constexpr int GROUP = group_stride(GW * LD);
    static_assert(TILE % PAD == 0, "whole vector loads and tensor-core steps");
    A* sa;
    A* sb;
    A* sc;
    __device__ __forceinline__ explicit TileStage(A* smem)
        : sa(smem), sb(smem + E / GW * GROUP), sc(smem + (E + D) / GW * GROUP) {}
    __host__ __device__ static constexpr int smem_elems() { return stage_elems<D>(TILE); }
    // where column e starts
    __host__ __device__ static constexpr int col(int e) { return e / GW * GROUP + e % GW * LD; }
    // token row `row`, part `part` of P = d / NB: a (2 NB), b (NB), c (2 NB)
    template <int NA, int NB>
    __device__ __forceinline__ void stage(int row, int part, const A (&a)[NA], const A (&b)[NB], const A (&c)[NA]) {
        static_assert(NA == 2 * NB && (NB == D || NB == GW), "a whole token or half of it");
        const int at = row + part * GROUP;  // the part's columns: the next group of each (a part is a group)
#pragma unroll
        for (int l = 0; l < NA; ++l) {
            const int e = l / NB * D + l % NB;
            sa[col(e) + at] = a[l];
            sc[col(e) + at] = c[l];
        }
#pragma unroll
        for (int j = 0; j < NB; ++j) sb[col(j) + at] = b[j];
    }
    template <int NB>
    __device__ __forceinline__ void stage_zero(int row, int part) {
        const A za[2 * NB] = {}, zb[NB] = {};
        stage(row, part, za, zb, za);
    }
};

// float64 (gradcheck): FMAs, thread i owns matrix entries i, i + REDUCE_THREADS, ... and, for i < 2d, vector
// entry i, adding the tile's tokens in order.
template <int D, class A, int TILE>
struct TileSums : TileStage<D, A, TILE> {
    using Base = TileStage<D, A, TILE>;
    using Base::E;
    static constexpr int PER = (E * D + REDUCE_THREADS - 1) / REDUCE_THREADS;
    static_assert(REDUCE_THREADS >= E, "a thread a vector entry");
    A mat[PER];
    A vec = A(0);
    __device__ __forceinline__ explicit TileSums(A* smem) : Base(smem) {
#pragma unroll
        for (int r = 0; r < PER; ++r) mat[r] = A(0);
    }
    // after a __syncthreads: adds rows 0..rows-1 (staged up to a multiple of PAD)
    __device__ __forceinline__ void accumulate(int rows) {
        const int i = threadIdx.x;
        for (int t = 0; t < rows; t += 4) {
            A b4[4];
            load4(this->sb + Base::col(i % D) + t, b4);
#pragma unroll
            for (int r = 0; r < PER; ++r) {
                const int idx = i + r * REDUCE_THREADS;
                if (idx < E * D) {
                    A a4[4];
                    load4(this->sa + Base::col(idx / D) + t, a4);
#pragma unroll
                    for (int u = 0; u < 4; ++u) mat[r] += a4[u] * b4[u];
                }
            }
            if (i < E) {
                A c4[4];
                load4(this->sc + Base::col(i) + t, c4);
#pragma unroll
                for (int u = 0; u < 4; ++u) vec += c4[u];
            }
        }
    }
    // this block's row of the (B*h, chunks, 2d*d + 2d) partial sums
    __device__ __forceinline__ void store(void* part, long long row) {
        A* p = static_cast<A*>(part) + row * (E * D + E);
        const int i = threadIdx.x;
#pragma unroll
        for (int r = 0; r < PER; ++r)
            if (i + r * REDUCE_THREADS < E * D) p[i + r * REDUCE_THREADS] = mat[r];
        if (i < E) p[E * D + i] = vec;
    }
};

// C += A B on the tensor cores: m16n8k8, TF32 operands (their bits), float32 accumulators.
__device__ __forceinline__ void mma_tf32(float (&c)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
    asm("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

// x = hi + lo, both TF32 (10-bit mantissa): hi hi + hi lo + lo hi ("3xTF32") keeps float32 accuracy (one pass,
// as triton's bf16 DOT_MODE_16, would add ~2^-11 to each product: more than the 1e-4 output tolerance allows).
__device__ __forceinline__ void split_tf32(float x, uint32_t& hi, uint32_t& lo) {
    asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(hi) : "f"(x));
    asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(lo) : "f"(x - __uint_as_float(hi)));
}

// float math: sum a^T b on the tensor cores. The tile's tokens are the MMA's k dimension: warp w takes the
// 8-token steps w, w + WARPS, ... and keeps its own (2d x d) accumulators as C fragments (rows = entries of a,
// 16 a tile; columns = entries of b, 8 a tile); lane l < 2d also sums entry l of c over the same tokens. The
// warps' sums meet in shared memory at the end, added in warp order (deterministic). The FMA loop above spent
// ~30 instructions a thread per 4 tokens (5 shared loads for 16 FMAs); this is ~60 a warp per 8 tokens.
template <int D, int TILE>
struct TileSums<D, float, TILE> : TileStage<D, float, TILE> {
    using Base = TileStage<D, float, TILE>;
    using Base::E;
    static constexpr int WARPS = REDUCE_THREADS / 32, MT = E / 16, NT = D / 8, W = E * D + E;
    static_assert(REDUCE_THREADS % 32 == 0 && E <= 32, "whole warps; a lane a vector entry");
    static_assert(WARPS * W <= Base::smem_elems(), "the warps' sums fit the tile's shared memory");
    float acc[MT][NT][4];
    float vec = 0.f;
    __device__ __forceinline__ explicit TileSums(float* smem) : Base(smem) {
#pragma unroll
        for (int mt = 0; mt < MT; ++mt)
#pragma unroll
            for (int nt = 0; nt < NT; ++nt)
#pragma unroll
                for (int r = 0; r < 4; ++r) acc[mt][nt][r] = 0.f;
    }
    __device__ __forceinline__ void accumulate(int rows) {
        const int lane = threadIdx.x % 32, g = lane / 4, tq = lane % 4;
        // entry 8 i + g sits at col(8 i) + col(g): 8 i starts a group (GW is 4 or 8)
        static_assert(8 % Base::GW == 0, "8-entry steps of whole groups");
        const int cg = Base::col(g), cl = Base::col(lane);
        for (int t = 8 * (threadIdx.x / 32); t < rows; t += 8 * WARPS) {
            // fragments (PTX ISA, m16n8k8 .tf32): A[m][k] = a of token t + k, entry 16 mt + m: lane holds
            // m = g + 8 (r & 1), k = tq + 4 (r >> 1); B[k][n] = b of token t + k, entry 8 nt + n: n = g, k = tq + 4 r
            uint32_t ahi[MT][4], alo[MT][4], bhi[NT][2], blo[NT][2];
#pragma unroll
            for (int mt = 0; mt < MT; ++mt)
#pragma unroll
                for (int r = 0; r < 4; ++r)
                    split_tf32(this->sa[Base::col(16 * mt + 8 * (r & 1)) + cg + t + tq + 4 * (r >> 1)], ahi[mt][r],
                               alo[mt][r]);
#pragma unroll
            for (int nt = 0; nt < NT; ++nt)
#pragma unroll
                for (int r = 0; r < 2; ++r)
                    split_tf32(this->sb[Base::col(8 * nt) + cg + t + tq + 4 * r], bhi[nt][r], blo[nt][r]);
#pragma unroll
            for (int mt = 0; mt < MT; ++mt)
#pragma unroll
                for (int nt = 0; nt < NT; ++nt) {
                    mma_tf32(acc[mt][nt], alo[mt], bhi[nt]);
                    mma_tf32(acc[mt][nt], ahi[mt], blo[nt]);
                    mma_tf32(acc[mt][nt], ahi[mt], bhi[nt]);
                }
            if (lane < E) {
                float c4[4], c8[4];
                load4(this->sc + cl + t, c4);
                load4(this->sc + cl + t + 4, c8);
#pragma unroll
                for (int u = 0; u < 4; ++u) vec += c4[u] + c8[u];
            }
        }
    }
    // after the last tile's __syncthreads (the tile's shared memory is free): the warps' sums -> the block's row
    // of the (B*h, chunks, 2d*d + 2d) partial sums, thread i storing entries i, i + REDUCE_THREADS, ...
    __device__ __forceinline__ void store(void* part, long long row) {
        const int lane = threadIdx.x % 32, g = lane / 4, tq = lane % 4;
        float* mine = this->sa + (threadIdx.x / 32) * W;
#pragma unroll
        for (int mt = 0; mt < MT; ++mt)
#pragma unroll
            for (int nt = 0; nt < NT; ++nt)
#pragma unroll
                for (int r = 0; r < 4; ++r)  // C[m][n]: m = g + 8 (r >> 1), n = 2 tq + (r & 1)
                    mine[(16 * mt + g + 8 * (r >> 1)) * D + 8 * nt + 2 * tq + (r & 1)] = acc[mt][nt][r];
        if (lane < E) mine[E * D + lane] = vec;
        __syncthreads();
        float* p = static_cast<float*>(part) + row * W;
        for (int i = threadIdx.x; i < W; i += REDUCE_THREADS) {
            float sum = this->sa[i];
#pragma unroll
            for (int w = 1; w < WARPS; ++w) sum += this->sa[w * W + i];
            p[i] = sum;
        }
    }
};

// The block decodes below divide 32-bit unsigned (geometry_ok keeps N + chunk, N + TOKEN_THREADS and the grids
// below 2^31): a 64-bit division by a runtime value is a long call (state: 1216 -> 1080 SASS instructions).

// Block b (of B*h x chunks) -> (b, h) and its token range [t0, t1).
struct ChunkOf {
    int b, h, bh, t0, t1;
    __device__ __forceinline__ explicit ChunkOf(const NalasrNalaArgs& a) {
        const auto chunks = static_cast<unsigned>(a.chunks), heads = static_cast<unsigned>(a.heads);
        const unsigned ubh = blockIdx.x / chunks, ub = ubh / heads;
        bh = static_cast<int>(ubh);
        b = static_cast<int>(ub);
        h = static_cast<int>(ubh - ub * heads);
        t0 = static_cast<int>((blockIdx.x - ubh * chunks) * static_cast<unsigned>(a.chunk));
        t1 = min(t0 + static_cast<int>(a.chunk), static_cast<int>(a.N));
    }
};

// Block b (of B*h x ceil(N / TOKEN_THREADS)) -> (b, h) and this thread's token t (may be >= N).
struct TokenOf {
    int b, h, bh, t;
    __device__ __forceinline__ explicit TokenOf(const NalasrNalaArgs& a) {
        const unsigned blocks = (static_cast<unsigned>(a.N) + TOKEN_THREADS - 1) / TOKEN_THREADS;
        const unsigned heads = static_cast<unsigned>(a.heads), ubh = blockIdx.x / blocks, ub = ubh / heads;
        bh = static_cast<int>(ubh);
        b = static_cast<int>(ub);
        h = static_cast<int>(ubh - ub * heads);
        t = static_cast<int>((blockIdx.x - ubh * blocks) * TOKEN_THREADS + threadIdx.x);
    }
};

// Walks the block's chunk in tiles: token(t, row, part, sums) stages part `part` of P of token t's rows at tile
// row `row` (item i = P row + part goes to thread i % REDUCE_THREADS: a warp's lanes take P consecutive parts of
// each token), then every thread adds its entries over the tile; the sums go to the block's partial-sum row.
template <int D, class A, int TILE, int P, class TokenFn>
__device__ __forceinline__ void reduce_chunk(const NalasrNalaArgs& a, const ChunkOf& ch, A* smem, TokenFn token) {
    constexpr int ROUNDS = (P * TILE + REDUCE_THREADS - 1) / REDUCE_THREADS;
    TileSums<D, A, TILE> sums(smem);
    for (int base = ch.t0; base < ch.t1; base += TILE) {
        const int rows = min(ch.t1 - base, TILE), padded = (rows + PAD - 1) / PAD * PAD;
#pragma unroll
        for (int r = 0; r < ROUNDS; ++r) {
            const int item = threadIdx.x + r * REDUCE_THREADS, row = item / P, part = item % P;
            if (row < rows)
                token(base + row, row, part, sums);
            else if (row < padded)
                sums.template stage_zero<D / P>(row, part);
        }
        __syncthreads();
        sums.accumulate(rows);
        __syncthreads();
    }
    sums.store(a.part, blockIdx.x);
}

// One thread a token with the head's matrix and vector (s_in, m_in [/ divisor]) in shared memory.
template <int D, class A, class TokenFn>
__device__ __forceinline__ void per_token(const NalasrNalaArgs& a, long long divisor, TokenFn token) {
    __shared__ __align__(16) A s_mat[2 * D * D];  // read 4 entries a load
    __shared__ __align__(16) A s_vec[2 * D];
    const TokenOf tok(a);
    stage_head<D>(a.s_in, a.m_in, tok.bh, divisor, s_mat, s_vec);
    __syncthreads();
    if (tok.t < a.N) token(tok, s_mat, s_vec);
}

// ------------------------------------------------------------------------------------------------ kernels

// Threads a token of state: two, each half of its channels (the key map and the rotation act on single channels and
// adjacent pairs), where half a row of k, v and of cos, sin is whole 16-byte vectors: the lane pair then reads
// whole 32-byte sectors (bf16, d 16), a load instruction spanning 16 tokens' lines instead of 32. Else one (bf16
// d 8: a 16-byte row, nothing to gain). Every staged entry is computed as with one thread a token.
template <class T, class A, int D>
__host__ __device__ constexpr int state_parts() {
    return D / 2 * sizeof(T) % 16 == 0 && D / 4 * sizeof(A) % 16 == 0 ? 2 : 1;
}

template <class T, class A, int D>
__global__ void __launch_bounds__(REDUCE_THREADS, REDUCE_MIN_BLOCKS) nala_state_kernel(const NalasrNalaArgs a) {
    constexpr int TILE = tile_tokens<A, D>(0), P = state_parts<T, A, D>(), W = D / P;
    __shared__ __align__(16) A smem[TileSums<D, A, TILE>::smem_elems()];
    const ChunkOf ch(a);
    reduce_chunk<D, A, TILE, P>(a, ch, smem, [&](int t, int row, int part, TileSums<D, A, TILE>& sums) {
        A k[W], v[W], phi[2 * W], rphi[2 * W];
        load_head<W, T>(a.k, a.skb, a.skn, ch.b, t, P * ch.h + part, k);  // part of head h: head P h + part of d/P
        load_head<W, T>(a.v, a.svb, a.svn, ch.b, t, P * ch.h + part, v);
        key_map(k, phi);
        Rope<D, A, P>(a.cos, a.sin, t, part).apply(phi, rphi);
        sums.stage(row, part, rphi, v, phi);
    });
}

template <class T, class A, int D>
__global__ void __launch_bounds__(TOKEN_THREADS, TOKEN_MIN_BLOCKS) nala_out_kernel(const NalasrNalaArgs a) {
    per_token<D, A>(a, 0, [&](const TokenOf& tok, const A* s_mat, const A* s_vec) {
        A q[D], phi[2 * D], rphi[2 * D], num[D];
        load_head<D, T>(a.q, a.sqb, a.sqn, tok.b, tok.t, tok.h, q);
        const QueryParts<D, A> qp(q);
        qp.halves(q, phi);
        Rope<D, A>(a.cos, a.sin, tok.t).apply(phi, rphi);
        vec_mat<D>(rphi, s_mat, num);
        const A inv_den = A(1) / (dot2d<D>(phi, s_vec) + Consts<A>::eps);
#pragma unroll
        for (int j = 0; j < D; ++j) num[j] *= inv_den;
        store_head<D, A>(a.out, a.sob, a.son, tok.b, tok.t, tok.h, num);
    });
}

template <class T, class A, int D>
__global__ void __launch_bounds__(REDUCE_THREADS, REDUCE_MIN_BLOCKS) nala_qbwd_kernel(const NalasrNalaArgs a) {
    constexpr int HEAD = (2 * D * D + 2 * D) * static_cast<int>(sizeof(A));
    constexpr int TILE = tile_tokens<A, D>(HEAD);
    __shared__ __align__(16) A smem[TileSums<D, A, TILE>::smem_elems()];
    __shared__ __align__(16) A s_mat[2 * D * D];  // read 4 entries a load
    __shared__ __align__(16) A s_vec[2 * D];
    const ChunkOf ch(a);
    stage_head<D>(a.s_in, a.m_in, ch.bh, 0, s_mat, s_vec);
    __syncthreads();
    reduce_chunk<D, A, TILE, 1>(a, ch, smem, [&](int t, int row, int, TileSums<D, A, TILE>& sums) {
        A q[D], dout[D], phi[2 * D], rphi[2 * D], num[D], g[2 * D], dq[D];
        load_head<D, T>(a.q, a.sqb, a.sqn, ch.b, t, ch.h, q);
        load_head<D, A>(a.dout, a.sdob, a.sdon, ch.b, t, ch.h, dout);
        const QueryParts<D, A> qp(q);
        qp.halves(q, phi);
        const Rope<D, A> rope(a.cos, a.sin, t);
        rope.apply(phi, rphi);
        vec_mat<D>(rphi, s_mat, num);
        const A inv_den = A(1) / (dot2d<D>(phi, s_vec) + Consts<A>::eps);
        A do_num = A(0);
#pragma unroll
        for (int j = 0; j < D; ++j) {
            do_num += dout[j] * num[j];
            num[j] = dout[j] * inv_den;  // now dnum
        }
        const A dden = -do_num * inv_den * inv_den;
        // gradient reaching phi_q: rot^T(S dnum) + m dden
        A gs[2 * D];
        // reload S from shared memory: keeping the 2d x d entries of vec_mat live for this product spills
        asm volatile("" ::: "memory");
        mat_vec<D>(s_mat, num, gs);
        rope.apply_t(gs, g);
#pragma unroll
        for (int e = 0; e < 2 * D; ++e) {
            g[e] += s_vec[e] * dden;
            phi[e] *= dden;  // now the token's term of dm
        }
        qp.backward(q, g, dq);
        store_head<D, T>(a.dq, a.sdqb, a.sdqn, ch.b, t, ch.h, dq);
        sums.stage(row, 0, rphi, num, phi);
    });
}

template <class T, class A, int D>
__global__ void __launch_bounds__(TOKEN_THREADS, TOKEN_MIN_BLOCKS) nala_kbwd_kernel(const NalasrNalaArgs a) {
    per_token<D, A>(a, a.N, [&](const TokenOf& tok, const A* s_mat, const A* s_vec) {
        A k[D], v[D], phi[2 * D], rphi[2 * D], dv[D], gs[2 * D], g[2 * D], dk[D];
        load_head<D, T>(a.k, a.skb, a.skn, tok.b, tok.t, tok.h, k);
        load_head<D, T>(a.v, a.svb, a.svn, tok.b, tok.t, tok.h, v);
        key_map(k, phi);
        const Rope<D, A> rope(a.cos, a.sin, tok.t);
        rope.apply(phi, rphi);
        vec_mat<D>(rphi, s_mat, dv);
        mat_vec<D>(s_mat, v, gs);
        rope.apply_t(gs, g);
#pragma unroll
        for (int e = 0; e < 2 * D; ++e) g[e] += s_vec[e];
        key_map_bwd(k, g, dk);
        store_head<D, T>(a.dk, a.sdkb, a.sdkn, tok.b, tok.t, tok.h, dk);
        store_head<D, T>(a.dv, a.sdvb, a.sdvn, tok.b, tok.t, tok.h, dv);
    });
}

// part (rows, chunks, wm + wv) -> s_out (rows, wm), m_out (rows, wv): sums over chunks in order [/ divisor]
template <class A>
__global__ void __launch_bounds__(FINISH_THREADS) finish_kernel(const A* part, A* s_out, A* m_out, long long rows,
                                                                 long long chunks, int wm, int wv, long long divisor) {
    const long long w = wm + wv;
    const long long idx = static_cast<long long>(blockIdx.x) * FINISH_THREADS + threadIdx.x;
    if (idx >= rows * w) return;
    const long long row = idx / w, col = idx % w;
    const A* p = part + row * chunks * w + col;
    A acc = A(0);
    for (long long c = 0; c < chunks; ++c) acc += p[c * w];
    if (divisor > 0) acc /= A(divisor);
    if (col < wm)
        s_out[row * wm + col] = acc;
    else
        m_out[row * wv + col - wm] = acc;
}

// ------------------------------------------------------------------------------------------------ host side

enum Op { OP_STATE, OP_OUT, OP_QBWD, OP_KBWD };

template <class A, int D>
static int finish(const NalasrNalaArgs& a, cudaStream_t st, long long divisor) {
    const long long rows = a.B * a.heads, n = rows * (2 * D * D + 2 * D);
    finish_kernel<A><<<static_cast<unsigned>((n + FINISH_THREADS - 1) / FINISH_THREADS), FINISH_THREADS, 0, st>>>(
        static_cast<const A*>(a.part), static_cast<A*>(a.s_out), static_cast<A*>(a.m_out), rows, a.chunks,
        2 * D * D, 2 * D, divisor);
    return cudaGetLastError();
}

template <class T, class A, int D>
static int launch(Op op, const NalasrNalaArgs& a) {
    const auto st = static_cast<cudaStream_t>(a.stream);
    const long long bh = a.B * a.heads;
    const auto reduce_grid = static_cast<unsigned>(bh * a.chunks);
    const auto token_grid = static_cast<unsigned>(bh * ((a.N + TOKEN_THREADS - 1) / TOKEN_THREADS));
    int err;
    switch (op) {
        case OP_STATE:
            nala_state_kernel<T, A, D><<<reduce_grid, REDUCE_THREADS, 0, st>>>(a);
            err = cudaGetLastError();
            return err ? err : finish<A, D>(a, st, a.N);
        case OP_OUT:
            nala_out_kernel<T, A, D><<<token_grid, TOKEN_THREADS, 0, st>>>(a);
            return cudaGetLastError();
        case OP_QBWD:
            nala_qbwd_kernel<T, A, D><<<reduce_grid, REDUCE_THREADS, 0, st>>>(a);
            err = cudaGetLastError();
            return err ? err : finish<A, D>(a, st, 0);
        case OP_KBWD:
            nala_kbwd_kernel<T, A, D><<<token_grid, TOKEN_THREADS, 0, st>>>(a);
            return cudaGetLastError();
    }
    return ERR_GEOMETRY;
}

template <class T, class A>
static int dispatch_d(Op op, const NalasrNalaArgs& a) {
    switch (a.d) {
        case 8: return launch<T, A, 8>(op, a);
        case 16: return launch<T, A, 16>(op, a);
    }
    return ERR_HEAD_DIM;
}

static bool geometry_ok(const NalasrNalaArgs& a) {
    const long long bh = a.B * a.heads, max_grid = 0x7fffffffLL;
    return a.B > 0 && a.heads > 0 && a.N > 0 && a.chunk > 0 && a.chunks == (a.N + a.chunk - 1) / a.chunk &&
           bh * a.chunks <= max_grid && bh * ((a.N + TOKEN_THREADS - 1) / TOKEN_THREADS) <= max_grid &&
           a.N + a.chunk <= max_grid && a.N + TOKEN_THREADS <= max_grid;  // tokens in 32 bits (ChunkOf, TokenOf)
}

static int dispatch(Op op, const NalasrNalaArgs* a) {
    if (!geometry_ok(*a)) return ERR_GEOMETRY;
    const DeviceGuard guard(static_cast<int>(a->device));
    if (guard.err != cudaSuccess) return guard.err;
    switch (a->dtype) {
        case DT_F32: return dispatch_d<float, float>(op, *a);
        case DT_F64: return dispatch_d<double, double>(op, *a);
        case DT_BF16: return dispatch_d<__nv_bfloat16, float>(op, *a);
        case DT_F16: return dispatch_d<__half, float>(op, *a);
    }
    return ERR_DTYPE;
}

extern "C" {
// Each returns 0, a cudaError_t (> 0) or one of the negative ERR_ codes above; launches only, no sync.
int nalasr_nala_state(const NalasrNalaArgs* a) { return dispatch(OP_STATE, a); }

int nalasr_nala_out(const NalasrNalaArgs* a) { return dispatch(OP_OUT, a); }

int nalasr_nala_qbwd(const NalasrNalaArgs* a) { return dispatch(OP_QBWD, a); }

int nalasr_nala_kbwd(const NalasrNalaArgs* a) { return dispatch(OP_KBWD, a); }

const char* nalasr_nala_error(int code) {
    switch (code) {
        case ERR_DTYPE: return "unsupported dtype";
        case ERR_HEAD_DIM: return "unsupported head width (8, 16)";
        case ERR_GEOMETRY: return "bad sizes: B, heads, N, chunk > 0, chunks = ceil(N / chunk), grid and N + chunk < 2^31";
    }
    return cudaGetErrorString(static_cast<cudaError_t>(code));
}
}
