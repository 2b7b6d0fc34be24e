// The NaLa attention gate (docs/model.md, NaLa step 6, before proj): a = LayerNorm(o + lepe) * SiLU(g), forward
// and backward, for the fused attention branch of the training step (cuda_branch.py). Built and called through
// ctypes like nala_attention.cu (cuda_ext.py builds it; the wrapper allocates every buffer).
//
// Why: under inductor this gate is three memory-bound kernels a block (forward; LayerNorm backward; SiLU
// backward + the concatenation of dq, dk, dv + dlepe's dv and dg into d(qkvg)), which read o (float32), lepe and
// g three times and write d(qkvg) in a separate pass (session 8, H100: 40 + 40 + 85 us a block). Here the forward
// is one pass and the backward is one pass that writes dg straight into its slice of d(qkvg); dq, dk, dv go
// into their slices from the attention kernels and dlepe's dv is added by the depthwise backward (accumulate),
// so no concatenation pass is left.
//
//   layout   G = C / 8 lanes a token, 8 channels a lane (C 8 .. 256, a power of 2 times 8); the token's sums
//            over C are xor shuffles over its G lanes (fixed order: bit-reproducible). Grid-stride over tokens.
//   forward  z = o + lepe, mean, rstd = 1 / sqrt(var + eps) (two-pass variance in registers),
//            y = (z - mean) rstd w + b, a = y silu(g); writes a, mean, rstd.
//   backward from da: zn = (z - mean) rstd recomputed, dy = da silu(g), dg = da y silu'(g),
//            dz = rstd (dy w - mean(dy w) - zn mean(dy w zn)); writes dz twice (math type for the attention
//            backward, element type for the lepe backward) and dg; adds dy zn and dy into per-lane sums, which
//            the block reduces in a fixed order into part[block, 2, C]; column_sum_kernel (cuda_ext.cuh) sums
//            the blocks' rows.
// Elements (lepe, g, a, da, dlepe, dg): bf16 / fp16 / fp32 with float32 math, fp64 with float64 math; o, do,
// mean, rstd, the weights and the partial sums in the math type. Token strides any, channel stride 1.
#include "../cuda_ext.cuh"

#ifndef GATE_THREADS
#define GATE_THREADS 256
#endif
#define GATE_LANE_CH 8

extern "C" {
// Every field is 8 bytes, so the layout has no padding (mirrored by cuda_branch.py's ctypes Structure).
typedef struct {
    const void* o;      // (T, C) math type: the attention core's output
    const void* lepe;   // (T, C) element type
    const void* g;      // (T, C) element type (the g chunk of qkvg)
    const void* w;      // (C) math type: LayerNorm weight
    const void* bias;   // (C) math type: LayerNorm bias
    const void* da;     // backward: (T, C) element type
    void* a;            // forward: (T, C) element type
    void* mean;         // forward writes, backward reads: (T) math type
    void* rstd;         // (T) math type
    void* dout;         // backward: dz (T, C) math type (the attention core's do)
    void* dlepe;        // backward: dz (T, C) element type (the lepe conv's dy)
    void* dg;           // backward: (T, C) element type (the g slice of d(qkvg))
    void* part;         // backward: (grid, 2, C) math type: rows sum dy zn (weight), sum dy (bias)
    void* stream;
    long long so, slepe, sg, sda, sa, sdout, sdlepe, sdg;  // token strides in elements (channel stride 1)
    long long T, C, dtype, eps_bits, grid, threads, device;  // eps_bits: the double eps's bits
} NalasrGateArgs;
}

enum { ERR_DTYPE = -1, ERR_CHANNELS = -2, ERR_GEOMETRY = -3 };

struct BF16 {
    using S = __nv_bfloat16;
    using A = float;
};
struct F16 {
    using S = __half;
    using A = float;
};
struct F32 {
    using S = float;
    using A = float;
};
struct F64 {
    using S = double;
    using A = double;
};

__device__ __forceinline__ float gsqrt(float x) { return sqrtf(x); }
__device__ __forceinline__ double gsqrt(double x) { return sqrt(x); }
__device__ __forceinline__ float gexp(float x) { return expf(x); }
__device__ __forceinline__ double gexp(double x) { return exp(x); }

// 8 consecutive elements <-> the math type, as 16-byte vectors (1 for 2-byte elements, 2 for float, 4 for double):
// the wrapper checks that every base pointer is 16-byte aligned and every token stride a multiple of 8 elements.
// Converted by value (no type punning through memory).
__device__ __forceinline__ void unpack(const uint4& u, float (&x)[8], __nv_bfloat16) {
    const unsigned w[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        x[2 * i] = __uint_as_float(w[i] << 16);
        x[2 * i + 1] = __uint_as_float(w[i] & 0xffff0000u);
    }
}
__device__ __forceinline__ void unpack(const uint4& u, float (&x)[8], __half) {
    const unsigned w[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        x[2 * i] = __half2float(__ushort_as_half(static_cast<unsigned short>(w[i] & 0xffffu)));
        x[2 * i + 1] = __half2float(__ushort_as_half(static_cast<unsigned short>(w[i] >> 16)));
    }
}
template <class T, class A>
__device__ __forceinline__ void load8(const T* p, A (&x)[8]) {
    if constexpr (sizeof(T) == 2) {
        unpack(*reinterpret_cast<const uint4*>(p), x, T());
    } else if constexpr (sizeof(T) == 4) {
        const float4 u = reinterpret_cast<const float4*>(p)[0], v = reinterpret_cast<const float4*>(p)[1];
        x[0] = u.x; x[1] = u.y; x[2] = u.z; x[3] = u.w; x[4] = v.x; x[5] = v.y; x[6] = v.z; x[7] = v.w;
    } else {
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const double2 u = reinterpret_cast<const double2*>(p)[i];
            x[2 * i] = u.x;
            x[2 * i + 1] = u.y;
        }
    }
}
__device__ __forceinline__ unsigned pack2(float lo, float hi, __nv_bfloat16) {
    return static_cast<unsigned>(__bfloat16_as_ushort(__float2bfloat16_rn(lo))) |
           (static_cast<unsigned>(__bfloat16_as_ushort(__float2bfloat16_rn(hi))) << 16);
}
__device__ __forceinline__ unsigned pack2(float lo, float hi, __half) {
    return static_cast<unsigned>(__half_as_ushort(__float2half_rn(lo))) |
           (static_cast<unsigned>(__half_as_ushort(__float2half_rn(hi))) << 16);
}
template <class T, class A>
__device__ __forceinline__ void store8(T* p, const A (&x)[8]) {
    if constexpr (sizeof(T) == 2) {
        *reinterpret_cast<uint4*>(p) = make_uint4(pack2(x[0], x[1], T()), pack2(x[2], x[3], T()),
                                                  pack2(x[4], x[5], T()), pack2(x[6], x[7], T()));
    } else if constexpr (sizeof(T) == 4) {
        reinterpret_cast<float4*>(p)[0] = make_float4(x[0], x[1], x[2], x[3]);
        reinterpret_cast<float4*>(p)[1] = make_float4(x[4], x[5], x[6], x[7]);
    } else {
#pragma unroll
        for (int i = 0; i < 4; ++i) reinterpret_cast<double2*>(p)[i] = make_double2(x[2 * i], x[2 * i + 1]);
    }
}

// Sum over the G lanes of a token (lanes lane0 .. lane0 + G - 1 of a warp, G a power of 2 <= 32).
template <int G, class A>
__device__ __forceinline__ A token_sum(A x) {
#pragma unroll
    for (int m = 1; m < G; m <<= 1) x += __shfl_xor_sync(0xffffffffu, x, m);
    return x;
}

template <class A>
__device__ __forceinline__ A sigmoid(A x) {
    return A(1) / (A(1) + gexp(-x));
}

// One lane: token t, channels c0 .. c0 + 7 (c0 = (lane % G) * 8).
template <class Tr, int G>
__global__ void __launch_bounds__(GATE_THREADS) gate_fwd_kernel(const NalasrGateArgs a) {
    using S = typename Tr::S;
    using A = typename Tr::A;
    constexpr int C = G * GATE_LANE_CH;
    const A eps = A(__longlong_as_double(a.eps_bits));
    const int cl = threadIdx.x % G;
    const int c0 = cl * GATE_LANE_CH;
    A w[GATE_LANE_CH], b[GATE_LANE_CH];
    load8(static_cast<const A*>(a.w) + c0, w);
    load8(static_cast<const A*>(a.bias) + c0, b);
    const long long per_block = blockDim.x / G;
    // The whole block runs the same iterations (the loop tests the block's first token), so the shuffles of a
    // token's G lanes are always full-warp; lanes past the last token compute on token 0 and store nothing.
    for (long long base = blockIdx.x * per_block; base < a.T; base += static_cast<long long>(gridDim.x) * per_block) {
        const long long t = base + threadIdx.x / G;
        const bool ok = t < a.T;
        const long long tt = ok ? t : 0;
        A z[GATE_LANE_CH], l[GATE_LANE_CH], gv[GATE_LANE_CH];
        load8(static_cast<const A*>(a.o) + tt * a.so + c0, z);
        load8(static_cast<const S*>(a.lepe) + tt * a.slepe + c0, l);
        load8(static_cast<const S*>(a.g) + tt * a.sg + c0, gv);
        A s = 0;
#pragma unroll
        for (int e = 0; e < GATE_LANE_CH; ++e) {
            z[e] += l[e];
            s += z[e];
        }
        const A mean = token_sum<G>(s) / A(C);
        A v = 0;
#pragma unroll
        for (int e = 0; e < GATE_LANE_CH; ++e) v += (z[e] - mean) * (z[e] - mean);
        const A rstd = A(1) / gsqrt(token_sum<G>(v) / A(C) + eps);
        if (!ok) continue;
#pragma unroll
        for (int e = 0; e < GATE_LANE_CH; ++e) z[e] = ((z[e] - mean) * rstd * w[e] + b[e]) * (gv[e] * sigmoid(gv[e]));
        store8(static_cast<S*>(a.a) + tt * a.sa + c0, z);
        if (cl == 0) {
            static_cast<A*>(a.mean)[tt] = mean;
            static_cast<A*>(a.rstd)[tt] = rstd;
        }
    }
}

template <class Tr, int G>
__global__ void __launch_bounds__(GATE_THREADS) gate_bwd_kernel(const NalasrGateArgs a) {
    using S = typename Tr::S;
    using A = typename Tr::A;
    constexpr int C = G * GATE_LANE_CH;
    __shared__ A red[GATE_THREADS / G][2][C];  // [token slot][weight, bias][channel]
    const int cl = threadIdx.x % G;
    const int c0 = cl * GATE_LANE_CH;
    A w[GATE_LANE_CH], b[GATE_LANE_CH], sw[GATE_LANE_CH] = {}, sb[GATE_LANE_CH] = {};
    load8(static_cast<const A*>(a.w) + c0, w);
    load8(static_cast<const A*>(a.bias) + c0, b);
    const long long per_block = blockDim.x / G;
    for (long long base = blockIdx.x * per_block; base < a.T; base += static_cast<long long>(gridDim.x) * per_block) {
        const long long t = base + threadIdx.x / G;
        const bool ok = t < a.T;
        const long long tt = ok ? t : 0;
        const A mean = static_cast<const A*>(a.mean)[tt], rstd = static_cast<const A*>(a.rstd)[tt];
        A zn[GATE_LANE_CH], l[GATE_LANE_CH], gv[GATE_LANE_CH], d[GATE_LANE_CH];
        load8(static_cast<const A*>(a.o) + tt * a.so + c0, zn);
        load8(static_cast<const S*>(a.lepe) + tt * a.slepe + c0, l);
        load8(static_cast<const S*>(a.g) + tt * a.sg + c0, gv);
        load8(static_cast<const S*>(a.da) + tt * a.sda + c0, d);
        A s1 = 0, s2 = 0;
#pragma unroll
        for (int e = 0; e < GATE_LANE_CH; ++e) {
            if (!ok) d[e] = 0;
            zn[e] = (zn[e] + l[e] - mean) * rstd;
            const A sg = sigmoid(gv[e]);
            const A dy = d[e] * (gv[e] * sg);  // the gradient reaching y = zn w + b
            gv[e] = d[e] * (zn[e] * w[e] + b[e]) * (sg * (A(1) + gv[e] * (A(1) - sg)));  // now dg
            sw[e] += dy * zn[e];
            sb[e] += dy;
            d[e] = dy * w[e];  // now dy w
            s1 += d[e];
            s2 += d[e] * zn[e];
        }
        const A m1 = token_sum<G>(s1) / A(C), m2 = token_sum<G>(s2) / A(C);
        if (!ok) continue;
        store8(static_cast<S*>(a.dg) + tt * a.sdg + c0, gv);
#pragma unroll
        for (int e = 0; e < GATE_LANE_CH; ++e) d[e] = rstd * (d[e] - m1 - zn[e] * m2);  // now dz
        store8(static_cast<A*>(a.dout) + tt * a.sdout + c0, d);
        store8(static_cast<S*>(a.dlepe) + tt * a.sdlepe + c0, d);
    }
    // Block reduction in a fixed order: each token slot's lanes write their sums, then slots are summed in order.
    const int slot = threadIdx.x / G;
#pragma unroll
    for (int e = 0; e < GATE_LANE_CH; ++e) {
        red[slot][0][c0 + e] = sw[e];
        red[slot][1][c0 + e] = sb[e];
    }
    __syncthreads();
    A* part = static_cast<A*>(a.part) + static_cast<long long>(blockIdx.x) * 2 * C;
    const int slots = blockDim.x / G;
    for (int idx = threadIdx.x; idx < 2 * C; idx += blockDim.x) {
        const int j = idx / C, c = idx % C;
        A sum = 0;
        for (int q = 0; q < slots; ++q) sum += red[q][j][c];
        part[idx] = sum;
    }
}

// ------------------------------------------------------------------------------------------------ host side

template <class Tr, int G, bool BACKWARD>
static int launch(const NalasrGateArgs& a) {
    if (a.threads != GATE_THREADS || a.grid < 1 || a.grid >= (1LL << 31) || a.T < 1) return ERR_GEOMETRY;
    const dim3 grid(static_cast<unsigned>(a.grid)), block(static_cast<unsigned>(a.threads));
    if constexpr (BACKWARD)
        gate_bwd_kernel<Tr, G><<<grid, block, 0, static_cast<cudaStream_t>(a.stream)>>>(a);
    else
        gate_fwd_kernel<Tr, G><<<grid, block, 0, static_cast<cudaStream_t>(a.stream)>>>(a);
    return cudaGetLastError();
}

template <class Tr, bool BACKWARD>
static int dispatch_c(const NalasrGateArgs& a) {
    switch (a.C) {
        case 8: return launch<Tr, 1, BACKWARD>(a);
        case 16: return launch<Tr, 2, BACKWARD>(a);
        case 32: return launch<Tr, 4, BACKWARD>(a);
        case 64: return launch<Tr, 8, BACKWARD>(a);
        case 128: return launch<Tr, 16, BACKWARD>(a);
        case 256: return launch<Tr, 32, BACKWARD>(a);
    }
    return ERR_CHANNELS;
}

template <bool BACKWARD>
static int dispatch(const NalasrGateArgs* a) {
    const DeviceGuard guard(static_cast<int>(a->device));
    if (guard.err != cudaSuccess) return guard.err;
    switch (a->dtype) {
        case DT_F32: return dispatch_c<F32, BACKWARD>(*a);
        case DT_F64: return dispatch_c<F64, BACKWARD>(*a);
        case DT_BF16: return dispatch_c<BF16, BACKWARD>(*a);
        case DT_F16: return dispatch_c<F16, BACKWARD>(*a);
    }
    return ERR_DTYPE;
}

extern "C" {
// Each returns 0, a cudaError_t (> 0) or one of the negative ERR_ codes above; launches only, no sync.
int nalasr_gate_fwd(const NalasrGateArgs* a) { return dispatch<false>(a); }

int nalasr_gate_bwd(const NalasrGateArgs* a) { return dispatch<true>(a); }

int nalasr_gate_finish(const void* part, void* out, long long rows, long long n, int is_f64, void* stream,
                       int device) {
    return launch_column_sums(part, out, rows, n, is_f64, stream, device);
}

const char* nalasr_gate_error(int code) {
    switch (code) {
        case ERR_DTYPE: return "unsupported dtype";
        case ERR_CHANNELS: return "unsupported channel count (8, 16, 32, 64, 128, 256)";
        case ERR_GEOMETRY: return "bad launch: threads != GATE_THREADS, grid out of range or no tokens";
    }
    return cudaGetErrorString(static_cast<cudaError_t>(code));
}
}
