#include <algorithm>
#include <cstdint>

#include "common.cuh"
#include "dwconv.cuh"
#include "tile.cuh"

namespace nalasr::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;

// x_out and LayerNorm of K tokens held by a warp, from v[k] = x + cpe(x) of the channel pairs 2·lane + 64r the lane
// owns (pairs ≥ C ignored): token k is t0 + k·t_step, stored where store[k] (uniform over the warp). Every lane
// calls it (warp reductions, all K tokens' together so that their shuffles overlap).
template <int K, int R>
__device__ inline void store_residual_layernorm(const float2 (&v)[K][R], const bool (&store)[K], std::int64_t t0,
                                                std::int64_t t_step, int C, int lane, const float* __restrict__ gamma,
                                                const float* __restrict__ beta, float eps, __half* __restrict__ x_out,
                                                __half* __restrict__ normed, std::int64_t normed_ld) {
    const float inv_c = 1.0f / C;
    float mean[K], rstd[K];
#pragma unroll
    for (int k = 0; k < K; ++k) {
        mean[k] = 0.0f;
#pragma unroll
        for (int r = 0; r < R; ++r)
            if (2 * lane + 64 * r < C) mean[k] += v[k][r].x + v[k][r].y;
    }
#pragma unroll
    for (int k = 0; k < K; ++k) mean[k] = warp_sum(mean[k]) * inv_c;
#pragma unroll
    for (int k = 0; k < K; ++k) {
        rstd[k] = 0.0f;
#pragma unroll
        for (int r = 0; r < R; ++r) {
            if (2 * lane + 64 * r >= C) continue;
            const float d0 = v[k][r].x - mean[k], d1 = v[k][r].y - mean[k];
            rstd[k] += d0 * d0 + d1 * d1;
        }
    }
#pragma unroll
    for (int k = 0; k < K; ++k) rstd[k] = rsqrtf(warp_sum(rstd[k]) * inv_c + eps);
#pragma unroll
    for (int r = 0; r < R; ++r) {
        const int c = 2 * lane + 64 * r;
        if (c >= C) continue;
        const float2 g = load2(gamma + c), bt = load2(beta + c);
#pragma unroll
        for (int k = 0; k < K; ++k) {
            if (!store[k]) continue;
            const std::int64_t t = t0 + k * t_step;
            *reinterpret_cast<__half2*>(x_out + t * C + c) = __floats2half2_rn(v[k][r].x, v[k][r].y);
            const float n0 = (v[k][r].x - mean[k]) * rstd[k] * g.x + bt.x;
            const float n1 = (v[k][r].y - mean[k]) * rstd[k] * g.y + bt.y;
            *reinterpret_cast<__half2*>(normed + t * normed_ld + c) = __floats2half2_rn(n0, n1);
        }
    }
}

// acc + the taps of one kernel row (3 consecutive taps) times the inputs n[0..2] at columns x − 1, x, x + 1, one
// FMA per element (the FFN's float4 channel quads, cpe's float2 channel pairs).
__device__ inline float4 fma_elements(float4 a, float4 b, float4 c) {
    return make_float4(fmaf(a.x, b.x, c.x), fmaf(a.y, b.y, c.y), fmaf(a.z, b.z, c.z), fmaf(a.w, b.w, c.w));
}
__device__ inline float2 fma_elements(float2 a, float2 b, float2 c) {
    return make_float2(fmaf(a.x, b.x, c.x), fmaf(a.y, b.y, c.y));
}
template <typename V>
__device__ inline V add_tap_row(V acc, const V* taps, const V (&n)[3]) {
#pragma unroll
    for (int dx = 0; dx < 3; ++dx) acc = fma_elements(taps[dx], n[dx], acc);
    return acc;
}

// cpe + residual + LayerNorm for C ≤ 128 (R = 1 or 2 channel pairs per lane: lane l owns the pairs 2l + 64r, so a
// warp holds whole tokens, 128 contiguous bytes per 64 channels, and the LayerNorm is a warp reduction per token).
// Each warp slides down its own strip of kCpeColumns<R> output columns (the block's warps take consecutive strips)
// and the block's rows_per_block rows, one input row per step, with the taps in registers and no shared memory: it
// loads the row's strip columns and one halo column each side (its neighbours' own columns, so mostly L1 hits) and
// adds them to the two output rows still open, whose partial sums stay in registers (as in the FFN kernel below);
// the output row that completes is LayerNorm'd and stored. The next row's loads are issued before this row's math.
// kC = 64 (the default model) fixes C at compile time: immediate offsets, 80 registers for 3 blocks/SM; kC = 0
// takes C from the argument.
template <int R>
constexpr int kCpeColumns = R == 1 ? 4 : 2;
template <int kC>
constexpr int kCpeMinBlocks = kC == 64 ? 3 : 2;
// A block loads rows_per_block + 2 rows for rows_per_block output rows: the launcher keeps it at least this tall.
constexpr int kCpeMinRows = 16;

template <int R, int kC>
__global__ void __launch_bounds__(kThreads, kCpeMinBlocks<kC>)
    cpe_residual_layernorm_kernel(const __half* __restrict__ x, int H, int W, int C_arg, int rows_per_block,
                                  const float* __restrict__ w, const float* __restrict__ bias,
                                  const float* __restrict__ gamma, const float* __restrict__ beta, float eps,
                                  __half* __restrict__ x_out, __half* __restrict__ normed, std::int64_t normed_ld) {
    constexpr int K = kCpeColumns<R>;
    const int C = kC ? kC : C_arg;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int x0 = (int(blockIdx.x) * kWarps + warp) * K;  // output column k is image column x0 + k, loaded column i
                                                           // x0 − 1 + i
    if (x0 >= W) return;  // uniform over the warp; the kernel has no barrier
    const int y_begin = blockIdx.y * rows_per_block, y_end = min(H, y_begin + rows_per_block);

    // Taps tap-major, (9, C); the centre tap + 1 adds the identity (x_out = x + cpe(x)). Zeros for pairs ≥ C.
    float2 taps[R][9], b[R];
    bool active[R];
#pragma unroll
    for (int r = 0; r < R; ++r) {
        const int c = 2 * lane + 64 * r;
        active[r] = c < C;
        b[r] = make_float2(0.0f, 0.0f);
#pragma unroll
        for (int tap = 0; tap < 9; ++tap) taps[r][tap] = b[r];
        if (active[r]) {
            load_taps<3>(w, C, c, taps[r]);
            b[r] = load2(bias + c);
        }
        taps[r][4].x += 1.0f, taps[r][4].y += 1.0f;
    }
    bool load_column[K + 2], output_column[K];  // uniform over the warp
#pragma unroll
    for (int i = 0; i < K + 2; ++i) load_column[i] = x0 - 1 + i >= 0 && x0 - 1 + i < W;
#pragma unroll
    for (int k = 0; k < K; ++k) output_column[k] = x0 + k < W;

    // Element offset of loaded column 0 of the next row to load (advances a row per load), and the token of output
    // column 0 of the row a step completes (advances a row per step).
    const std::int64_t row_step = std::int64_t(W) * C;
    std::int64_t load_offset = (std::int64_t(y_begin - 1) * W + x0 - 1) * C + 2 * lane;
    std::int64_t out_token = std::int64_t(y_begin - 2) * W + x0;

    // Input row y of the loaded columns, zeros outside the image (the convolution's zero padding) and past C.
    unsigned raw[K + 2][R];
    auto load_row = [&](int y) {
        const bool row_inside = y >= 0 && y < H;
#pragma unroll
        for (int i = 0; i < K + 2; ++i)
#pragma unroll
            for (int r = 0; r < R; ++r) {
                raw[i][r] = 0u;
                if (row_inside && load_column[i] && active[r])
                    raw[i][r] = *reinterpret_cast<const unsigned*>(x + (load_offset + i * C + 64 * r));
            }
        load_offset += row_step;
    };
    load_row(y_begin - 1);

    // open1[k]: output row y − 1 of column k with the taps of kernel rows 0 and 1 added; open2[k]: row y with the
    // bias and kernel row 0; y is the input row of the step. Output row y − 1 is complete after adding row y.
    float2 open1[K][R], open2[K][R];
#pragma unroll
    for (int k = 0; k < K; ++k)
#pragma unroll
        for (int r = 0; r < R; ++r) open1[k][r] = open2[k][r] = b[r];
    for (int y = y_begin - 1; y <= y_end; ++y) {
        float2 in[K + 2][R];
#pragma unroll
        for (int i = 0; i < K + 2; ++i)
#pragma unroll
            for (int r = 0; r < R; ++r) in[i][r] = __half22float2(*reinterpret_cast<const __half2*>(&raw[i][r]));
        if (y < y_end) load_row(y + 1);  // in flight during the rest of this step

        float2 done[K][R];
#pragma unroll
        for (int k = 0; k < K; ++k)
#pragma unroll
            for (int r = 0; r < R; ++r) {
                const float2 n[3] = {in[k][r], in[k + 1][r], in[k + 2][r]};
                done[k][r] = add_tap_row(open1[k][r], taps[r] + 6, n);
                open1[k][r] = add_tap_row(open2[k][r], taps[r] + 3, n);
                open2[k][r] = add_tap_row(b[r], taps[r], n);
            }
        if (y > y_begin)  // output row y − 1 is one of the block's
            store_residual_layernorm(done, output_column, out_token, 1, C, lane, gamma, beta, eps, x_out, normed,
                                     normed_ld);
        out_token += W;
    }
}

// C > 128 (R = 4 or 8 channel pairs per lane, too many taps for registers): one 4×8-token tile per block, staged
// in shared memory (tile.cuh); warp w owns tile column w (its kTileY tokens together, so each staged pixel and each
// weight is read once for all of them).
constexpr int kCpeTileMinBlocks = 2;

template <int R>
__global__ void __launch_bounds__(kThreads, kCpeTileMinBlocks)
    cpe_residual_layernorm_tile_kernel(const __half* __restrict__ x, int H, int W, int C,
                                       const float* __restrict__ w, const float* __restrict__ bias,
                                       const float* __restrict__ gamma, const float* __restrict__ beta, float eps,
                                       __half* __restrict__ x_out, __half* __restrict__ normed,
                                       std::int64_t normed_ld) {
    static_assert(kWarps == kTileX, "a warp per tile column");
    extern __shared__ __align__(16) unsigned char shared_raw[];
    float* tile = reinterpret_cast<float*>(shared_raw);  // [pixel][C], halo 1
    constexpr int kCols = kTileX + 2;
    const int y0 = blockIdx.y * kTileY, x0 = blockIdx.x * kTileX;
    stage_tile<1>(x, C, H, W, y0, x0, 0, C, tile, Identity{});
    __syncthreads();

    const int tx = threadIdx.x / 32, lane = threadIdx.x % 32, xx = x0 + tx;
    if (xx >= W) return;  // uniform over the warp; no barrier follows
    // v[ty][r]: x + cpe(x) of channel pair r for the column's token ty (zeros for channels ≥ C; tokens below the
    // image are computed from the zero halo and not written).
    float2 v[kTileY][R];
#pragma unroll
    for (int r = 0; r < R; ++r) {
        const int c = 2 * lane + 64 * r;
        float2 acc[kTileY];
#pragma unroll
        for (int ty = 0; ty < kTileY; ++ty) acc[ty] = make_float2(0.0f, 0.0f);
        if (c < C) {
            float2 taps[9];
            load_taps<3>(w, C, c, taps);
            const float2 b = load2(bias + c);
#pragma unroll
            for (int ty = 0; ty < kTileY; ++ty) {
                const float2 center = load2(tile + ((ty + 1) * kCols + tx + 1) * C + c);
                acc[ty] = make_float2(center.x + b.x, center.y + b.y);
            }
            column_taps<3>(tile, C, tx, c, taps, acc);
        }
#pragma unroll
        for (int ty = 0; ty < kTileY; ++ty) v[ty][r] = acc[ty];
    }
    bool inside[kTileY];
#pragma unroll
    for (int ty = 0; ty < kTileY; ++ty) inside[ty] = y0 + ty < H;
    store_residual_layernorm(v, inside, std::int64_t(y0) * W + xx, W, C, lane, gamma, beta, eps, x_out, normed,
                             normed_ld);
}

// The FFN kernel slides a block down a strip of kFfnStrip columns and rows_per_block rows of the image, one
// input row per step, for a run of up to kFfnChannels channels (blockIdx.z picks the run). Lane l owns the channel
// quad 4l of the run (8-byte float16 loads and stores, a warp's access one contiguous 256-byte row of a token).
// Each step, warp w GELUs the input row's staged columns w + kWarps·i (the strip and one halo column each side)
// into shared memory, so every input element is GELU'd once per strip instead of once per tile pixel; after one
// barrier it adds that row to the outputs of its strip columns w + kWarps·i, whose partial sums of the two rows
// still open stay in registers (each GELU'd row feeds the three output rows it reaches).
constexpr int kFfnLaneChannels = 4;
constexpr int kFfnChannels = 32 * kFfnLaneChannels;
constexpr int kFfnColumnsPerWarp = 4;
constexpr int kFfnStaged = kWarps * kFfnColumnsPerWarp;  // staged columns of a row: the strip and its halo
constexpr int kFfnStrip = kFfnStaged - 2;                // output columns of a block
// A block GELUs rows_per_block + 2 rows for rows_per_block output rows: the launcher keeps it at least this tall.
constexpr int kFfnMinRows = 16;
constexpr int kFfnMinBlocks = 2;

__device__ inline float4 gelu4(float4 v) {
    return make_float4(gelu_erf(v.x), gelu_erf(v.y), gelu_erf(v.z), gelu_erf(v.w));
}

__global__ void __launch_bounds__(kThreads, kFfnMinBlocks)
    ffn_gelu_dwconv_kernel(const __half* __restrict__ t_map, std::int64_t t_ld, int H, int W, int Ch,
                           int rows_per_block, const float* __restrict__ w, const float* __restrict__ bias,
                           __half* __restrict__ out, std::int64_t out_ld) {
    // GELU of the current input row: [staged column][lane] channel quads, two buffers so one barrier a step
    // suffices (a buffer is rewritten only after every thread has passed the barrier that follows its last read).
    __shared__ float4 gelu_rows[2][kFfnStaged][32];
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int x0 = blockIdx.x * kFfnStrip;  // output column j is image column x0 + j, staged column j x0 − 1 + j
    const int y_begin = blockIdx.y * rows_per_block, y_end = min(H, y_begin + rows_per_block);
    const int c = blockIdx.z * kFfnChannels + kFfnLaneChannels * lane;
    const bool lane_active = c < Ch;

    // Taps tap-major, (9, Ch); the centre tap + 1 adds the identity (out = t + dwconv(t)).
    float4 taps[9], b = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
#pragma unroll
    for (int tap = 0; tap < 9; ++tap) taps[tap] = b;
    if (lane_active) {
#pragma unroll
        for (int tap = 0; tap < 9; ++tap) taps[tap] = *reinterpret_cast<const float4*>(w + std::int64_t(tap) * Ch + c);
        b = *reinterpret_cast<const float4*>(bias + c);
    }
    taps[4].x += 1.0f, taps[4].y += 1.0f, taps[4].z += 1.0f, taps[4].w += 1.0f;

    // This thread's staged columns (loads) and output columns (sums, stores), the same j = warp + kWarps·i.
    bool load_column[kFfnColumnsPerWarp], output_column[kFfnColumnsPerWarp];
#pragma unroll
    for (int i = 0; i < kFfnColumnsPerWarp; ++i) {
        const int j = warp + kWarps * i, x = x0 - 1 + j;
        load_column[i] = lane_active && x >= 0 && x < W;
        output_column[i] = j < kFfnStrip && x0 + j < W;  // uniform over the warp
    }
    // Element offsets of staged column 0 of the next row to load, and of output column 0 of the row a step
    // completes; both advance by a row per step.
    const std::int64_t load_row_step = std::int64_t(W) * t_ld, out_row_step = std::int64_t(W) * out_ld;
    std::int64_t load_offset = (std::int64_t(y_begin - 1) * W + x0 - 1 + warp) * t_ld + c;
    std::int64_t out_offset = (std::int64_t(y_begin - 2) * W + x0 + warp) * out_ld + c;

    // Input row y of the staged columns, zeros outside the image (GELU(0) = 0: the convolution's zero padding).
    uint2 raw[kFfnColumnsPerWarp];
    auto load_row = [&](int y) {
        const bool row_inside = y >= 0 && y < H;
#pragma unroll
        for (int i = 0; i < kFfnColumnsPerWarp; ++i) {
            raw[i] = make_uint2(0u, 0u);
            if (row_inside && load_column[i])
                raw[i] = *reinterpret_cast<const uint2*>(t_map + load_offset + std::int64_t(kWarps * i) * t_ld);
        }
        load_offset += load_row_step;
    };
    load_row(y_begin - 1);

    // open1[i]: output row y − 1 of column i with the taps of kernel rows 0 and 1 added; open2[i]: row y with
    // the bias and kernel row 0; y is the input row of the step. Output row y − 1 is complete after adding row y.
    float4 open1[kFfnColumnsPerWarp], open2[kFfnColumnsPerWarp];
#pragma unroll
    for (int i = 0; i < kFfnColumnsPerWarp; ++i) open1[i] = open2[i] = b;
    for (int y = y_begin - 1, parity = 0; y <= y_end; ++y, parity ^= 1) {
        float4 v[kFfnColumnsPerWarp];
#pragma unroll
        for (int i = 0; i < kFfnColumnsPerWarp; ++i) v[i] = to_float4(raw[i]);
        if (y < y_end) load_row(y + 1);  // in flight during the rest of this step
#pragma unroll
        for (int i = 0; i < kFfnColumnsPerWarp; ++i) gelu_rows[parity][warp + kWarps * i][lane] = gelu4(v[i]);
        __syncthreads();

        const bool store = y > y_begin;  // output row y − 1 is one of the block's
#pragma unroll
        for (int i = 0; i < kFfnColumnsPerWarp; ++i) {
            if (!output_column[i]) continue;
            const int j = warp + kWarps * i;
            const float4 n[3] = {gelu_rows[parity][j][lane], gelu_rows[parity][j + 1][lane],
                                 gelu_rows[parity][j + 2][lane]};
            const float4 done = add_tap_row(open1[i], taps + 6, n);
            open1[i] = add_tap_row(open2[i], taps + 3, n);
            open2[i] = add_tap_row(b, taps, n);
            if (store && lane_active) {
                const __half2 lo = __floats2half2_rn(done.x, done.y), hi = __floats2half2_rn(done.z, done.w);
                *reinterpret_cast<uint2*>(out + out_offset + std::int64_t(kWarps * i) * out_ld) =
                    make_uint2(*reinterpret_cast<const unsigned*>(&lo), *reinterpret_cast<const unsigned*>(&hi));
            }
        }
        out_offset += out_row_step;
    }
}

// Rows per block of a grid `columns` blocks wide that fills the device once (one wave): each column of blocks is
// split into as many row ranges as the device holds blocks for, but no shorter than min_rows (a range loads its two
// halo rows again) and within the grid's 65535 limit.
template <typename Kernel>
cudaError_t one_wave_rows(Kernel kernel, std::int64_t columns, int H, int min_rows, int* rows) {
    int device = 0, sms = 0, per_sm = 0;
    if (cudaError_t e = cudaGetDevice(&device); e != cudaSuccess) return e;
    if (cudaError_t e = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device); e != cudaSuccess)
        return e;
    if (cudaError_t e = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kThreads, 0); e != cudaSuccess)
        return e;
    const std::int64_t ranges = std::max<std::int64_t>(1, std::int64_t(sms) * std::max(per_sm, 1) / columns);
    *rows = int(std::max({std::int64_t(min_rows), div_up(H, ranges), div_up(H, 65535)}));
    return cudaSuccess;
}

template <int R, int kC>
cudaError_t launch_cpe(const __half* x, int H, int W, int C, const float* w, const float* bias, const float* gamma,
                       const float* beta, float eps, __half* x_out, __half* normed, std::int64_t normed_ld,
                       cudaStream_t stream) {
    const std::int64_t columns = div_up(div_up(W, kCpeColumns<R>), kWarps);  // a strip per warp
    int rows = 0;
    if (cudaError_t e = one_wave_rows(cpe_residual_layernorm_kernel<R, kC>, columns, H, kCpeMinRows, &rows);
        e != cudaSuccess)
        return e;
    const dim3 grid(unsigned(columns), unsigned(div_up(H, rows)));
    cpe_residual_layernorm_kernel<R, kC><<<grid, kThreads, 0, stream>>>(x, H, W, C, rows, w, bias, gamma, beta, eps,
                                                                        x_out, normed, normed_ld);
    return cudaGetLastError();
}

template <int R>
cudaError_t launch_cpe_tile(const __half* x, int H, int W, int C, const float* w, const float* bias,
                            const float* gamma, const float* beta, float eps, __half* x_out, __half* normed,
                            std::int64_t normed_ld, cudaStream_t stream) {
    const std::size_t shared = std::size_t(tile_pixels(1)) * C * sizeof(float);
    if (cudaError_t e = allow_shared_memory(cpe_residual_layernorm_tile_kernel<R>, shared); e != cudaSuccess)
        return e;
    const dim3 grid(unsigned(div_up(W, kTileX)), unsigned(div_up(H, kTileY)));
    cpe_residual_layernorm_tile_kernel<R><<<grid, kThreads, shared, stream>>>(x, H, W, C, w, bias, gamma, beta, eps,
                                                                              x_out, normed, normed_ld);
    return cudaGetLastError();
}

}  // namespace

cudaError_t cpe_residual_layernorm(const __half* x, int H, int W, int C, const float* w, const float* bias,
                                   const float* gamma, const float* beta, float eps, __half* x_out, __half* normed,
                                   std::int64_t normed_ld, cudaStream_t stream) {
    if (C % 4 != 0 || C > kMaxLayerNormChannels) return cudaErrorInvalidValue;
    if (H == 0 || W == 0) return cudaGetLastError();
    if (C == 64) return launch_cpe<1, 64>(x, H, W, C, w, bias, gamma, beta, eps, x_out, normed, normed_ld, stream);
    if (C <= 64) return launch_cpe<1, 0>(x, H, W, C, w, bias, gamma, beta, eps, x_out, normed, normed_ld, stream);
    if (C <= 128) return launch_cpe<2, 0>(x, H, W, C, w, bias, gamma, beta, eps, x_out, normed, normed_ld, stream);
    if (C <= 256) return launch_cpe_tile<4>(x, H, W, C, w, bias, gamma, beta, eps, x_out, normed, normed_ld, stream);
    return launch_cpe_tile<8>(x, H, W, C, w, bias, gamma, beta, eps, x_out, normed, normed_ld, stream);
}

cudaError_t ffn_gelu_dwconv(const __half* t, std::int64_t t_ld, int H, int W, int Ch, const float* w,
                            const float* bias, __half* out, std::int64_t out_ld, cudaStream_t stream) {
    const auto misaligned = [](const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 8 != 0; };
    if (Ch % 4 != 0 || t_ld % 4 != 0 || out_ld % 4 != 0 || misaligned(t) || misaligned(out))
        return cudaErrorInvalidValue;
    if (H == 0 || W == 0) return cudaGetLastError();
    const std::int64_t strips = div_up(W, kFfnStrip), runs = div_up(Ch, kFfnChannels);
    int rows = 0;
    if (cudaError_t e = one_wave_rows(ffn_gelu_dwconv_kernel, strips * runs, H, kFfnMinRows, &rows); e != cudaSuccess)
        return e;
    const dim3 grid(unsigned(strips), unsigned(div_up(H, rows)), unsigned(runs));
    ffn_gelu_dwconv_kernel<<<grid, kThreads, 0, stream>>>(t, t_ld, H, W, Ch, rows, w, bias, out, out_ld);
    return cudaGetLastError();
}

}  // namespace nalasr::kernels
