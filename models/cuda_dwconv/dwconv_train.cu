// Depthwise k x k convolution (k in 3, 5, 7; zero padding; bias; optional + x residual) on token-major
// (B, H, W, C) tensors, forward and backward, for the PyTorch twin's training step. Spec: dwconv_ref.py.
// Built (by cuda_ext.py) and called by cuda_dwconv.py through ctypes (no torch C++ extension: the GPU machine's
// torch ABI is not ours); the wrapper computes every launch parameter (NalasrDwArgs) and allocates every buffer.
//
//   forward   one block = a FWD_TILE_H x FWD_TILE_W patch of one image x CB = FWD_NCG * V channels. It stages the
//             (TILE_H + k - 1) x (TILE_W + k - 1) halo in shared memory (zero outside the image), then each
//             thread computes ROWS vertically adjacent output pixels x V channels with the k*k weights of its
//             channels in registers, sliding down the halo rows (each smem vector feeds up to k outputs).
//             Its geometry is compile-time, so only the patch decode divides by runtime values.
//   dx        the forward kernel's DX instance on dy: taps flipped at the weight load (a register permutation),
//             no bias, + dy with the residual, + out with accumulate.
//   dW, db    wgrad_kernel: one block walks tiles_per_block WG_TILE_H x WG_TILE_W patches, staging the x halo
//             and the dy patch (double-buffered: patch i + 1's copies are in flight while patch i is summed);
//             one thread a patch column x V channels adds x_shifted * dy per tap (and dy for the bias) into
//             registers. At the end the block reduces them (warp shuffles, then a fixed-order sum over warps in
//             smem) into one row of partial sums part[block, k*k + 1, C]; column_sum_kernel (cuda_ext.cuh)
//             sums the rows in a fixed order. No atomics: the gradients are bit-reproducible.
//   fused     bwd_kernel, the previous backward (cuda_dwconv.BWD_IMPL "fused", kept for A/B timing): dx and the
//             sums of wgrad_kernel in one kernel, 4-row thread groups; its weights and both accumulator sets
//             (bf16: 164 / 191 registers at 3x3 / 5x5) allow one block an SM.
// Halos are staged with cp.async (sm_80+, vectors of 4, 8 or 16 bytes; zero-fill outside the image): every copy
// of a halo is in flight at once. Session 7 (H100) measured the first version, whose halo loop held one
// synchronous load a thread in flight (a global load, then its smem store), at 3-5x the HBM time: with 1-2
// blocks an SM that is ~2-4 kB in flight an SM where ~25 kB are needed (Little's law at ~1 us loaded latency).
// Element types: bf16, fp16, fp32 (float32 math) and fp64 (float64 math). Weights/bias come in the math type,
// contiguous (C, k*k). V > 1 needs C, the pixel strides and the base pointers to be multiples of V elements.
#include "../cuda_ext.cuh"  // DT_ element type codes, DeviceGuard

#ifndef FWD_TILE_H
#define FWD_TILE_H 8
#endif
#ifndef FWD_TILE_W
#define FWD_TILE_W 16
#endif
#ifndef FWD_ROWS
#define FWD_ROWS 4
#endif
#ifndef BWD_ROWS
#define BWD_ROWS 4
#endif
#ifndef FWD_MAX_THREADS
#define FWD_MAX_THREADS 256
#endif
#ifndef BWD_MAX_THREADS
#define BWD_MAX_THREADS 256
#endif
#ifndef FWD_MIN_BLOCKS
#define FWD_MIN_BLOCKS 1
#endif
#ifndef BWD_MIN_BLOCKS
#define BWD_MIN_BLOCKS 1
#endif
// Widest vector (elements a thread a load) instantiated per kernel size: the k*k weights (and in the backward
// the k*k + 1 sums) of V channels live in registers.
#ifndef FWD_VEC_K3
#define FWD_VEC_K3 8
#endif
#ifndef FWD_VEC_K5
#define FWD_VEC_K5 4
#endif
#ifndef FWD_VEC_K7
#define FWD_VEC_K7 2
#endif
#ifndef BWD_VEC_K3
#define BWD_VEC_K3 4
#endif
#ifndef BWD_VEC_K5
#define BWD_VEC_K5 2
#endif
#ifndef BWD_VEC_K7
#define BWD_VEC_K7 1
#endif
// wgrad_kernel: a WG_TILE_H x WG_TILE_W patch, WG_TILE_W * WG_NCG threads (one a column and channel group)
#ifndef WG_TILE_H
#define WG_TILE_H 8
#endif
#ifndef WG_TILE_W
#define WG_TILE_W 16
#endif
#ifndef WG_NCG
#define WG_NCG 16
#endif
#ifndef WG_MIN_BLOCKS
#define WG_MIN_BLOCKS 2
#endif
#ifndef WG_VEC_K3
#define WG_VEC_K3 4
#endif
#ifndef WG_VEC_K5
#define WG_VEC_K5 2
#endif
#ifndef WG_VEC_K7
#define WG_VEC_K7 1
#endif

extern "C" {
// Every field is 8 bytes, so the layout has no padding (mirrored by cuda_dwconv.py's ctypes Structure).
typedef struct {
    const void* x;      // forward: the input; dx: dy; fused backward, wgrad: x (for dW)
    const void* dy;     // fused backward, wgrad: the incoming gradient
    const void* w;      // (C, k*k) contiguous, math type
    const void* bias;   // (C) math type, or null
    void* out;          // forward: y; dx, fused backward: dx
    void* part;         // fused backward, wgrad: (grid_x, k*k + 1, C) math type
    void* stream;
    long long sxb, sxh, sxw, sdb, sdh, sdw, sob, soh, sow;  // pixel strides in elements (channel stride 1)
    long long B, H, W, C, k, dtype, vec, tile_h, tile_w, ncg, tiles_per_block, residual;
    long long grid_x, grid_y, threads, smem, device;
    long long accumulate;  // dx: 1: out += the result (read-modify-write; cuda_branch.py adds dlepe's dv to dv)
} NalasrDwArgs;
}

enum { ERR_DTYPE = -1, ERR_K = -2, ERR_VEC = -3, ERR_THREADS = -4 };

struct BF16 {
    using S = unsigned short;
    using A = float;
    static __device__ __forceinline__ float load(S s) { return __uint_as_float(static_cast<unsigned>(s) << 16); }
    static __device__ __forceinline__ S store(float f) { return __bfloat16_as_ushort(__float2bfloat16_rn(f)); }
};
struct F16 {
    using S = unsigned short;
    using A = float;
    static __device__ __forceinline__ float load(S s) { return __half2float(__ushort_as_half(s)); }
    static __device__ __forceinline__ S store(float f) { return __half_as_ushort(__float2half_rn(f)); }
};
struct F32 {
    using S = float;
    using A = float;
    static __device__ __forceinline__ float load(S s) { return s; }
    static __device__ __forceinline__ S store(float f) { return f; }
};
struct F64 {
    using S = double;
    using A = double;
    static __device__ __forceinline__ double load(S s) { return s; }
    static __device__ __forceinline__ S store(double f) { return f; }
};

template <typename S, int V>
struct alignas(sizeof(S) * V) Vec {
    S v[V];
};

// Tile geometry shared by both kernels, decoded from the patch index (patch columns fastest).
struct Tile {
    int b, y0, x0;
};

__device__ __forceinline__ Tile tile_at(int t, int H, int W, int th, int tw) {
    const int tiles_x = (W + tw - 1) / tw;
    const int per_image = tiles_x * ((H + th - 1) / th);
    const int b = t / per_image;
    const int r = t - b * per_image;
    return {b, (r / tiles_x) * th, (r % tiles_x) * tw};
}

// Copies V elements global -> shared: cp.async where the hardware has it (sm_80+; 4, 8 or 16 bytes; .cg skips
// L1 for 16), else a load and a store. !valid zero-fills (cp.async with src-size 0 reads nothing).
template <class S, int V>
__device__ __forceinline__ void copy_vec(S* dst, const S* src, bool valid) {
    constexpr int BYTES = sizeof(S) * V;
#if __CUDA_ARCH__ >= 800
    constexpr bool ASYNC = BYTES >= 4;
#else
    constexpr bool ASYNC = false;
#endif
    if constexpr (ASYNC) {
        const unsigned d = static_cast<unsigned>(__cvta_generic_to_shared(dst));
        if constexpr (BYTES == 16)
            asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(d), "l"(src), "r"(valid ? 16 : 0));
        else
            asm volatile("cp.async.ca.shared.global [%0], [%1], %2, %3;\n" ::"r"(d), "l"(src), "n"(BYTES),
                         "r"(valid ? BYTES : 0));
    } else {
        Vec<S, V> val;
#pragma unroll
        for (int e = 0; e < V; ++e) val.v[e] = 0;
        if (valid) val = *reinterpret_cast<const Vec<S, V>*>(src);
        *reinterpret_cast<Vec<S, V>*>(dst) = val;
    }
}

// The thread's copy_vec calls since the last commit form a group; wait until at most N groups are pending.
__device__ __forceinline__ void copy_commit() {
#if __CUDA_ARCH__ >= 800
    asm volatile("cp.async.commit_group;\n" ::: "memory");
#endif
}

template <int N>
__device__ __forceinline__ void copy_wait() {
#if __CUDA_ARCH__ >= 800
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
#endif
}

// (rows x cols) pixels from (ybase, xbase) of image b, channels c0 .. c0 + ncg*V - 1, into tile[(row*cols +
// col) * ncg*V + channel]; zero outside the image and past C. Issues the copies only (copy_commit / copy_wait
// and a barrier make them visible). Element i = p * ncg + cg (pixel p, channel group cg) goes to thread
// i % threads (= blockDim.x); threads is a multiple of ncg, so a thread keeps cg = tid % ncg and its pixel
// advances by step = threads / ncg: (row, col) move by (step / cols, step % cols), no division in the loop.
// The forward passes its compile-time geometry, which the inlining turns into constant divisions.
template <class Tr, int V>
__device__ __forceinline__ void load_halo(typename Tr::S* tile, const typename Tr::S* __restrict__ src,
                                          long long sb, long long sh, long long sw, int b, int ybase, int xbase,
                                          int c0, int H, int W, int C, int rows, int cols, int ncg,
                                          unsigned threads) {
    const int n = rows * cols * ncg;
    const int cg = threadIdx.x % ncg, p = threadIdx.x / ncg, step = threads / ncg;
    const int drow = step / cols, dcol = step - drow * cols;
    int row = p / cols, col = p - row * cols;
    const bool c_ok = c0 + cg * V < C;
    const typename Tr::S* img = src + static_cast<long long>(b) * sb + c0 + cg * V;
    for (int i = threadIdx.x; i < n; i += threads) {
        const int yy = ybase + row, xx = xbase + col;
        const bool ok = c_ok && yy >= 0 && yy < H && xx >= 0 && xx < W;
        copy_vec<typename Tr::S, V>(tile + static_cast<long long>(i) * V, ok ? img + yy * sh + xx * sw : src, ok);
        row += drow;
        col += dcol;
        if (col >= cols) {
            col -= cols;
            ++row;
        }
    }
}

// acc[o] += sum over taps (u, v) of wr[u*K + v] * tile[ty0 + o + u][tx + v] for the thread's V channels:
// halo row ty0 + rr feeds output rows rr - u, so each smem vector is read once per thread.
template <class Tr, int K, int V, int R>
__device__ __forceinline__ void conv_rows(const typename Tr::S* tile, int cols, int cb, int ty0, int tx, int cg,
                                          const typename Tr::A (&wr)[K * K][V], typename Tr::A (&acc)[R][V]) {
    using Vt = Vec<typename Tr::S, V>;
#pragma unroll
    for (int rr = 0; rr < R + K - 1; ++rr) {
#pragma unroll
        for (int v = 0; v < K; ++v) {
            const Vt val = *reinterpret_cast<const Vt*>(tile + ((ty0 + rr) * cols + tx + v) * cb + cg * V);
#pragma unroll
            for (int u = 0; u < K; ++u) {
                const int o = rr - u;
                if (o >= 0 && o < R) {
#pragma unroll
                    for (int e = 0; e < V; ++e) acc[o][e] += wr[u * K + v][e] * Tr::load(val.v[e]);
                }
            }
        }
    }
}

// V consecutive elements of the math type from p (V-element aligned: cuda_dwconv aligns the weight and bias
// bases), or zeros where !valid: C is a multiple of V, so one check covers all V channels.
template <class A, int V>
__device__ __forceinline__ void load_vec(const A* p, bool valid, A (&x)[V]) {
    Vec<A, V> val = {};
    if (valid) val = *reinterpret_cast<const Vec<A, V>*>(p);
#pragma unroll
    for (int e = 0; e < V; ++e) x[e] = val.v[e];
}

// The backward's k*k weights of channels c .. c + V - 1 from (C, k*k), taps flipped, zero past C: a thread's
// taps sit at immediate offsets from one address (loaded once a block, so the predicates cost little).
template <class Tr, int K, int V>
__device__ __forceinline__ void load_weights_flipped(const typename Tr::A* __restrict__ w, int c, int C,
                                                     typename Tr::A (&wr)[K * K][V]) {
#pragma unroll
    for (int t = 0; t < K * K; ++t)
#pragma unroll
        for (int e = 0; e < V; ++e)
            wr[t][e] = c + e < C ? w[static_cast<long long>(c + e) * (K * K) + K * K - 1 - t] : typename Tr::A(0);
}

// out[pixel] = acc (+ bias) (+ the centre of the halo tile: x for the forward, dy for dx) (+ out[pixel] itself
// with accumulate) for the thread's ROWS pixels that lie inside the image.
template <class Tr, int K, int V, int R>
__device__ __forceinline__ void store_rows(typename Tr::S* __restrict__ out, long long sb, long long sh,
                                           long long sw, const Tile& t, int H, int W, int C, int c,
                                           const typename Tr::S* tile, int cols, int cb, int ty0, int tx, int cg,
                                           const typename Tr::A (&bv)[V], bool residual, bool accumulate,
                                           const typename Tr::A (&acc)[R][V]) {
    using Vt = Vec<typename Tr::S, V>;
    constexpr int P = K / 2;
    const int xx = t.x0 + tx;
    if (xx >= W || c >= C) return;
#pragma unroll
    for (int o = 0; o < R; ++o) {
        const int yy = t.y0 + ty0 + o;
        if (yy >= H) break;
        const Vt centre = *reinterpret_cast<const Vt*>(tile + ((ty0 + o + P) * cols + tx + P) * cb + cg * V);
        Vt* const dst = reinterpret_cast<Vt*>(out + static_cast<long long>(t.b) * sb + yy * sh + xx * sw + c);
        Vt prev;
        if (accumulate) prev = *dst;
        Vt res;
#pragma unroll
        for (int e = 0; e < V; ++e) {
            typename Tr::A s = acc[o][e] + bv[e];
            if (residual) s += Tr::load(centre.v[e]);
            if (accumulate) s += Tr::load(prev.v[e]);
            res.v[e] = Tr::store(s);
        }
        *dst = res;
    }
}

// Minimum blocks an SM for __launch_bounds__: float64 (the checks' math) keeps 1, as its doubles would spill
// under the register cap that FWD_MIN_BLOCKS / BWD_MIN_BLOCKS set for the training types.
template <class Tr>
constexpr int min_blocks(int n) {
    return sizeof(typename Tr::A) == 8 ? 1 : n;
}

// The forward's block: FWD_NCG channel groups, the most (a power of 2) that fit FWD_MAX_THREADS next to the
// patch's pixel groups (cuda_dwconv.conv_layout uses the same).
constexpr int FWD_GROUPS = FWD_TILE_W * (FWD_TILE_H / FWD_ROWS);
constexpr int pow2_floor(int n) { return n >= 2 ? 2 * pow2_floor(n / 2) : 1; }
constexpr int FWD_NCG = pow2_floor(FWD_MAX_THREADS / FWD_GROUPS);
constexpr int FWD_THREADS = FWD_NCG * FWD_GROUPS;
static_assert(FWD_TILE_H % FWD_ROWS == 0 && FWD_GROUPS <= FWD_MAX_THREADS, "forward patch geometry");

// DX: a.x is dy and the taps are flipped (dx's convolution), no bias, a.accumulate adds out's contents.
template <class Tr, int K, int V, bool DX>
__global__ void __launch_bounds__(FWD_MAX_THREADS, min_blocks<Tr>(FWD_MIN_BLOCKS))
    fwd_kernel(const NalasrDwArgs a) {
    using S = typename Tr::S;
    using A = typename Tr::A;
    constexpr int R = FWD_ROWS, TW = FWD_TILE_W, CB = FWD_NCG * V, COLS = TW + K - 1;
    extern __shared__ __align__(16) unsigned char smem_raw[];
    S* tile = reinterpret_cast<S*>(smem_raw);
    const int H = a.H, W = a.W, C = a.C;
    const int c0 = blockIdx.y * CB;
    const Tile t = tile_at(blockIdx.x, H, W, FWD_TILE_H, TW);
    load_halo<Tr, V>(tile, static_cast<const S*>(a.x), a.sxb, a.sxh, a.sxw, t.b, t.y0 - K / 2, t.x0 - K / 2, c0,
                     H, W, C, FWD_TILE_H + K - 1, COLS, FWD_NCG, FWD_THREADS);
    const int cg = threadIdx.x % FWD_NCG;
    const int pg = threadIdx.x / FWD_NCG;
    const int tx = pg % TW, ty0 = (pg / TW) * R;
    const int c = c0 + cg * V;
    // The thread's weights, channels c .. c + V - 1 of (C, k*k), are V*k*k consecutive elements from c*k*k,
    // V-aligned (c a multiple of V): k*k vector loads at immediate offsets, then a register permutation
    // (which also flips the taps for dx).
    A wr[K * K][V];
    {
        A run[K * K][V];  // run[j][i] = element j*V + i of the thread's weights
#pragma unroll
        for (int j = 0; j < K * K; ++j)
            load_vec<A, V>(static_cast<const A*>(a.w) + static_cast<long long>(c) * (K * K) + j * V, c < C, run[j]);
#pragma unroll
        for (int t = 0; t < K * K; ++t) {
            const int tap = DX ? K * K - 1 - t : t;
#pragma unroll
            for (int e = 0; e < V; ++e) wr[t][e] = run[(e * K * K + tap) / V][(e * K * K + tap) % V];
        }
    }
    A bv[V] = {};
    const A* bias = static_cast<const A*>(a.bias);
    if (!DX) load_vec<A, V>(bias != nullptr ? bias + c : bias, bias != nullptr && c < C, bv);
    copy_commit();  // the weight loads above overlap the halo copies
    copy_wait<0>();
    __syncthreads();
    A acc[R][V] = {};
    conv_rows<Tr, K, V, R>(tile, COLS, CB, ty0, tx, cg, wr, acc);
    store_rows<Tr, K, V, R>(static_cast<S*>(a.out), a.sob, a.soh, a.sow, t, H, W, C, c, tile, COLS, CB, ty0, tx, cg,
                            bv, a.residual != 0, DX && a.accumulate != 0, acc);
}

// Sums acc over the block's threads that hold the same channels (thread t: channel group t % ncg, channels
// c0 + cg*V ..) in a fixed order into the row part (N, C) of the block. Threads t and t ^ m (m a multiple of
// ncg) hold the same channels: within a warp the butterfly sums them; then slot s = t / max(32, ncg) (a warp,
// or for ncg >= 32 one pixel group) writes red[s] (smem the block no longer reads), and the slots are summed in
// order.
template <class A, int N, int V>
__device__ __forceinline__ void block_sums_to_part(A (&acc)[N][V], A* red, int ncg, int c0, int C, A* part) {
    const int cb = ncg * V, cg = threadIdx.x % ncg;
    const int span = ncg < 32 ? 32 : ncg;
#pragma unroll
    for (int j = 0; j < N; ++j)
#pragma unroll
        for (int e = 0; e < V; ++e)
            for (int m = ncg; m < 32; m <<= 1) acc[j][e] += __shfl_xor_sync(0xffffffffu, acc[j][e], m);
    const int slots = blockDim.x / span;
    const int s = threadIdx.x / span;
    if (threadIdx.x % span < ncg) {
#pragma unroll
        for (int j = 0; j < N; ++j)
#pragma unroll
            for (int e = 0; e < V; ++e) red[(s * N + j) * cb + cg * V + e] = acc[j][e];
    }
    __syncthreads();
    for (int idx = threadIdx.x; idx < N * cb; idx += blockDim.x) {
        const int j = idx / cb, cc = idx % cb;
        A sum = 0;
        for (int q = 0; q < slots; ++q) sum += red[(q * N + j) * cb + cc];
        if (c0 + cc < C) part[static_cast<long long>(j) * C + c0 + cc] = sum;
    }
}

template <class Tr, int K, int V>
__global__ void __launch_bounds__(BWD_MAX_THREADS, min_blocks<Tr>(BWD_MIN_BLOCKS))
    bwd_kernel(const NalasrDwArgs a) {
    using S = typename Tr::S;
    using A = typename Tr::A;
    constexpr int R = BWD_ROWS;
    constexpr int KK = K * K;
    extern __shared__ __align__(16) unsigned char smem_raw[];
    const int H = a.H, W = a.W, C = a.C, th = a.tile_h, tw = a.tile_w, ncg = a.ncg;
    const int cb = ncg * V, rows = th + K - 1, cols = tw + K - 1;
    const int halo = rows * cols * cb;  // smem: x halo, dy halo of buffer 0, then of buffer 1
    S* const bufs = reinterpret_cast<S*>(smem_raw);
    const int c0 = blockIdx.y * cb;
    const int cg = threadIdx.x % ncg;
    const int pg = threadIdx.x / ncg;
    const int tx = pg % tw, ty0 = (pg / tw) * R;
    const int c = c0 + cg * V;
    const int n_tiles = a.B * ((H + th - 1) / th) * ((W + tw - 1) / tw);
    const int first = static_cast<int>(blockIdx.x * a.tiles_per_block);
    const int count = min(static_cast<int>(a.tiles_per_block), n_tiles - first);  // >= 1: grid_x = ceil
    // Issues the copies of patch i's x and dy halos into buffer i % 2, as one cp.async group.
    const auto stage = [&](int i) {
        const Tile t = tile_at(first + i, H, W, th, tw);
        S* xs = bufs + (i & 1) * 2 * halo;
        load_halo<Tr, V>(xs, static_cast<const S*>(a.x), a.sxb, a.sxh, a.sxw, t.b, t.y0 - K / 2, t.x0 - K / 2, c0,
                         H, W, C, rows, cols, ncg, blockDim.x);
        load_halo<Tr, V>(xs + halo, static_cast<const S*>(a.dy), a.sdb, a.sdh, a.sdw, t.b, t.y0 - K / 2,
                         t.x0 - K / 2, c0, H, W, C, rows, cols, ncg, blockDim.x);
        copy_commit();
    };
    stage(0);
    A wr[KK][V];
    load_weights_flipped<Tr, K, V>(static_cast<const A*>(a.w), c, C, wr);
    const A zero[V] = {};
    A wacc[KK + 1][V] = {};  // rows 0 .. KK-1: sum of x_shifted * dy per tap; row KK: sum of dy
    for (int i = 0; i < count; ++i) {
        if (i + 1 < count) {  // buffer (i + 1) % 2 is free: the barrier ending iteration i - 1
            stage(i + 1);
            copy_wait<1>();  // patch i's group has landed, patch i + 1's may still be in flight
        } else {
            copy_wait<0>();
        }
        __syncthreads();  // every thread's copies of patch i are visible
        const Tile t = tile_at(first + i, H, W, th, tw);
        const S* xs = bufs + (i & 1) * 2 * halo;
        const S* ds = xs + halo;
        A acc[R][V] = {};
        conv_rows<Tr, K, V, R>(ds, cols, cb, ty0, tx, cg, wr, acc);
        store_rows<Tr, K, V, R>(static_cast<S*>(a.out), a.sob, a.soh, a.sow, t, H, W, C, c, ds, cols, cb, ty0, tx,
                                cg, zero, a.residual != 0, a.accumulate != 0, acc);
        // dW: dy at the thread's pixels (zero outside the image) times x shifted by each tap
        using Vt = Vec<S, V>;
        A g[R][V];
#pragma unroll
        for (int o = 0; o < R; ++o) {
            const Vt d = *reinterpret_cast<const Vt*>(ds + ((ty0 + o + K / 2) * cols + tx + K / 2) * cb + cg * V);
#pragma unroll
            for (int e = 0; e < V; ++e) {
                g[o][e] = Tr::load(d.v[e]);
                wacc[KK][e] += g[o][e];
            }
        }
#pragma unroll
        for (int rr = 0; rr < R + K - 1; ++rr) {
#pragma unroll
            for (int v = 0; v < K; ++v) {
                const Vt xv = *reinterpret_cast<const Vt*>(xs + ((ty0 + rr) * cols + tx + v) * cb + cg * V);
#pragma unroll
                for (int u = 0; u < K; ++u) {
                    const int o = rr - u;
                    if (o >= 0 && o < R) {
#pragma unroll
                        for (int e = 0; e < V; ++e) wacc[u * K + v][e] += g[o][e] * Tr::load(xv.v[e]);
                    }
                }
            }
        }
        __syncthreads();  // the readers of buffer i % 2 are done: stage(i + 2) and red overwrite it
    }
    block_sums_to_part<A, KK + 1, V>(wacc, reinterpret_cast<A*>(smem_raw), ncg, c0, C,
                                     static_cast<A*>(a.part) + static_cast<long long>(blockIdx.x) * (KK + 1) * C);
}

// The dW / db sums of one thread's patch column over TH rows r: wacc[u*K + v] += dy[r] * x[r + u][v] (x: the
// halo from the column's first tap, xrow elements a row, cb a column) and wacc[K*K] += dy[r]. Halo row rr
// pairs with dy rows rr - u, so each x vector is read and converted once, and in the unrolled loop only the
// last K dy rows are live.
template <class Tr, int K, int V, int TH>
__device__ __forceinline__ void column_sums(const typename Tr::S* x, int xrow, const typename Tr::S* dy, int dyrow,
                                            int cb, typename Tr::A (&wacc)[K * K + 1][V]) {
    using Vt = Vec<typename Tr::S, V>;
    typename Tr::A g[TH][V];
#pragma unroll
    for (int rr = 0; rr < TH + K - 1; ++rr) {
        if (rr < TH) {
            const Vt d = *reinterpret_cast<const Vt*>(dy + rr * dyrow);
#pragma unroll
            for (int e = 0; e < V; ++e) {
                g[rr][e] = Tr::load(d.v[e]);
                wacc[K * K][e] += g[rr][e];
            }
        }
#pragma unroll
        for (int v = 0; v < K; ++v) {
            const Vt xv = *reinterpret_cast<const Vt*>(x + rr * xrow + v * cb);
#pragma unroll
            for (int u = 0; u < K; ++u) {
                const int r = rr - u;
                if (r >= 0 && r < TH) {
#pragma unroll
                    for (int e = 0; e < V; ++e) wacc[u * K + v][e] += g[r][e] * Tr::load(xv.v[e]);
                }
            }
        }
    }
}

constexpr int WG_THREADS = WG_TILE_W * WG_NCG;
static_assert(WG_THREADS % 32 == 0 && WG_THREADS <= 1024 && (WG_NCG & (WG_NCG - 1)) == 0, "dW patch geometry");

// dW and db alone (dx: fwd_kernel's DX instance). Thread t sums column t / WG_NCG of each patch for channel
// group t % WG_NCG. Without dx's weights and accumulators it needs about half of bwd_kernel's registers, so
// WG_MIN_BLOCKS blocks share an SM; the smem (2 x (x halo + dy patch)) allows 2 at 3x3 and bf16.
template <class Tr, int K, int V>
__global__ void __launch_bounds__(WG_THREADS, min_blocks<Tr>(WG_MIN_BLOCKS)) wgrad_kernel(const NalasrDwArgs a) {
    using S = typename Tr::S;
    using A = typename Tr::A;
    constexpr int TH = WG_TILE_H, TW = WG_TILE_W, CB = WG_NCG * V, KK = K * K, P = K / 2;
    constexpr int ROWS = TH + K - 1, COLS = TW + K - 1;
    constexpr int XHALO = ROWS * COLS * CB, BUF = XHALO + TH * TW * CB;  // a buffer: the x halo, the dy patch
    extern __shared__ __align__(16) unsigned char smem_raw[];
    S* const bufs = reinterpret_cast<S*>(smem_raw);
    const int H = a.H, W = a.W, C = a.C;
    const int c0 = blockIdx.y * CB;
    const int n_tiles = a.B * ((H + TH - 1) / TH) * ((W + TW - 1) / TW);
    const int first = static_cast<int>(blockIdx.x * a.tiles_per_block);
    const int count = min(static_cast<int>(a.tiles_per_block), n_tiles - first);  // >= 1: grid_x = ceil
    // Issues the copies of patch i's x halo and dy patch into buffer i % 2, as one cp.async group.
    const auto stage = [&](int i) {
        const Tile t = tile_at(first + i, H, W, TH, TW);
        S* const xs = bufs + (i & 1) * BUF;
        load_halo<Tr, V>(xs, static_cast<const S*>(a.x), a.sxb, a.sxh, a.sxw, t.b, t.y0 - P, t.x0 - P, c0, H, W, C,
                         ROWS, COLS, WG_NCG, WG_THREADS);
        load_halo<Tr, V>(xs + XHALO, static_cast<const S*>(a.dy), a.sdb, a.sdh, a.sdw, t.b, t.y0, t.x0, c0, H, W, C,
                         TH, TW, WG_NCG, WG_THREADS);
        copy_commit();
    };
    stage(0);
    const int cg = threadIdx.x % WG_NCG, tx = threadIdx.x / WG_NCG;
    A wacc[KK + 1][V] = {};  // rows 0 .. KK-1: sum of x_shifted * dy per tap; row KK: sum of dy
    for (int i = 0; i < count; ++i) {
        if (i + 1 < count) {  // buffer (i + 1) % 2 is free: the barrier ending iteration i - 1
            stage(i + 1);
            copy_wait<1>();
        } else {
            copy_wait<0>();
        }
        __syncthreads();  // every thread's copies of patch i are visible
        const S* xs = bufs + (i & 1) * BUF + tx * CB + cg * V;
        column_sums<Tr, K, V, TH>(xs, COLS * CB, xs + XHALO, TW * CB, CB, wacc);
        __syncthreads();  // the readers of buffer i % 2 are done: stage(i + 2) and the reduction overwrite it
    }
    block_sums_to_part<A, KK + 1, V>(wacc, reinterpret_cast<A*>(smem_raw), WG_NCG, c0, C,
                                     static_cast<A*>(a.part) + static_cast<long long>(blockIdx.x) * (KK + 1) * C);
}

// ------------------------------------------------------------------------------------------------ host side

// The kernels a launch runs: the forward, dx (the forward's DX instance), the fused backward, dW / db alone.
enum class Pass { FWD, DX, FUSED_BWD, WGRAD };

template <int K, Pass P>
constexpr int vec_cap() {
    if constexpr (P == Pass::FUSED_BWD) return K == 3 ? BWD_VEC_K3 : K == 5 ? BWD_VEC_K5 : BWD_VEC_K7;
    if constexpr (P == Pass::WGRAD) return K == 3 ? WG_VEC_K3 : K == 5 ? WG_VEC_K5 : WG_VEC_K7;
    return K == 3 ? FWD_VEC_K3 : K == 5 ? FWD_VEC_K5 : FWD_VEC_K7;
}

// The launch's geometry is the one the kernel was compiled for (or, fused backward, one it can run).
template <Pass P>
static bool geometry_ok(const NalasrDwArgs& a) {
    if constexpr (P == Pass::FUSED_BWD)
        return a.tile_h % BWD_ROWS == 0 && a.threads == a.ncg * a.tile_w * (a.tile_h / BWD_ROWS) &&
               a.threads <= BWD_MAX_THREADS && a.threads % 32 == 0;
    if constexpr (P == Pass::WGRAD)
        return a.tile_h == WG_TILE_H && a.tile_w == WG_TILE_W && a.ncg == WG_NCG && a.threads == WG_THREADS;
    return a.tile_h == FWD_TILE_H && a.tile_w == FWD_TILE_W && a.ncg == FWD_NCG && a.threads == FWD_THREADS;
}

template <class Tr, int K, int V, Pass P>
static int launch(const NalasrDwArgs& a) {
    if (!geometry_ok<P>(a)) return ERR_THREADS;
    void (*kernel)(NalasrDwArgs);
    if constexpr (P == Pass::FWD || P == Pass::DX)
        kernel = fwd_kernel<Tr, K, V, P == Pass::DX>;
    else if constexpr (P == Pass::FUSED_BWD)
        kernel = bwd_kernel<Tr, K, V>;
    else
        kernel = wgrad_kernel<Tr, K, V>;
    if (a.smem > 48 * 1024) {
        const cudaError_t err = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                     static_cast<int>(a.smem));
        if (err != cudaSuccess) return err;
    }
    kernel<<<dim3(static_cast<unsigned>(a.grid_x), static_cast<unsigned>(a.grid_y)), static_cast<unsigned>(a.threads),
             static_cast<size_t>(a.smem), static_cast<cudaStream_t>(a.stream)>>>(a);
    return cudaGetLastError();
}

// Instantiates V = 1, 2, 4, 8 up to the kernel's cap for K and 16 bytes a load.
template <class Tr, int K, Pass P>
static int dispatch_vec(const NalasrDwArgs& a) {
    constexpr int cap = vec_cap<K, P>();
    constexpr int vmax = cap < int(16 / sizeof(typename Tr::S)) ? cap : int(16 / sizeof(typename Tr::S));
    switch (a.vec) {
        case 1: return launch<Tr, K, 1, P>(a);
        case 2: if constexpr (vmax >= 2) return launch<Tr, K, 2, P>(a); break;
        case 4: if constexpr (vmax >= 4) return launch<Tr, K, 4, P>(a); break;
        case 8: if constexpr (vmax >= 8) return launch<Tr, K, 8, P>(a); break;
    }
    return ERR_VEC;
}

template <class Tr, Pass P>
static int dispatch_k(const NalasrDwArgs& a) {
    switch (a.k) {
        case 3: return dispatch_vec<Tr, 3, P>(a);
        case 5: return dispatch_vec<Tr, 5, P>(a);
        case 7: return dispatch_vec<Tr, 7, P>(a);
    }
    return ERR_K;
}

template <Pass P>
static int dispatch(const NalasrDwArgs* a) {
    const DeviceGuard guard(static_cast<int>(a->device));
    if (guard.err != cudaSuccess) return guard.err;
    switch (a->dtype) {
        case DT_F32: return dispatch_k<F32, P>(*a);
        case DT_F64: return dispatch_k<F64, P>(*a);
        case DT_BF16: return dispatch_k<BF16, P>(*a);
        case DT_F16: return dispatch_k<F16, P>(*a);
    }
    return ERR_DTYPE;
}

extern "C" {
// Each returns 0 or a cudaError_t (> 0) or one of the negative ERR_ codes above; launches only, no sync.
int nalasr_dwconv_fwd(const NalasrDwArgs* a) { return dispatch<Pass::FWD>(a); }

int nalasr_dwconv_dx(const NalasrDwArgs* a) { return dispatch<Pass::DX>(a); }

int nalasr_dwconv_bwd(const NalasrDwArgs* a) { return dispatch<Pass::FUSED_BWD>(a); }

int nalasr_dwconv_wgrad(const NalasrDwArgs* a) { return dispatch<Pass::WGRAD>(a); }

int nalasr_dwconv_finish(const void* part, void* out, long long rows, long long n, int is_f64, void* stream,
                         int device) {
    return launch_column_sums(part, out, rows, n, is_f64, stream, device);
}

const char* nalasr_dwconv_error(int code) {
    switch (code) {
        case ERR_DTYPE: return "unsupported dtype";
        case ERR_K: return "unsupported kernel size (3, 5, 7)";
        case ERR_VEC: return "unsupported vector width for this dtype";
        case ERR_THREADS:
            return "(fused backward) threads != ncg * tile_w * tile_h / rows, over the launch bound or not whole "
                   "warps, or (forward, dx, wgrad) a patch, ncg or threads other than the compiled ones";
    }
    return cudaGetErrorString(static_cast<cudaError_t>(code));
}
}
