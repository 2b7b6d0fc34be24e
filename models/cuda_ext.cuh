// Shared by the ctypes-loaded CUDA libraries of models/ (built by cuda_ext.py): element types, conversions to
// the math type, the device guard of the extern "C" entry points, and the column sums that finish the training
// kernels' per-block partial sums.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

// Element type codes, as cuda_ext.DTYPES passes them.
enum { DT_F32 = 0, DT_F64 = 1, DT_BF16 = 2, DT_F16 = 3 };

template <class A>
__device__ __forceinline__ A to_acc(float x) { return A(x); }
template <class A>
__device__ __forceinline__ A to_acc(double x) { return A(x); }
template <class A>
__device__ __forceinline__ A to_acc(__nv_bfloat16 x) { return A(__bfloat162float(x)); }
template <class A>
__device__ __forceinline__ A to_acc(__half x) { return A(__half2float(x)); }

__device__ __forceinline__ void store_as(float* p, float v) { *p = v; }
__device__ __forceinline__ void store_as(double* p, double v) { *p = v; }
__device__ __forceinline__ void store_as(__nv_bfloat16* p, float v) { *p = __float2bfloat16_rn(v); }
__device__ __forceinline__ void store_as(__half* p, float v) { *p = __float2half_rn(v); }

// Makes `device` current for the launches and restores the caller's device afterwards (cudaSetDevice is
// per host thread and shared with torch's runtime: leaving it changed would move torch's current device).
struct DeviceGuard {
    int prev = -1;
    cudaError_t err;
    explicit DeviceGuard(int device) {
        err = cudaGetDevice(&prev);
        if (err != cudaSuccess || prev == device)
            prev = -1;
        else
            err = cudaSetDevice(device);
    }
    ~DeviceGuard() {
        if (prev >= 0) cudaSetDevice(prev);
    }
};

// out[n] = sum over r of part[r, n] (part (rows, n) contiguous): COLUMN_SUM_SEGS interleaved row segments a
// column, then the segments in order (a fixed order, so deterministic).
constexpr int COLUMN_SUM_COLS = 32;
constexpr int COLUMN_SUM_SEGS = 32;  // 1024 threads a block: a thread sums rows / 32 partial rows (8 at 256 rows)

template <class A>
__global__ void __launch_bounds__(COLUMN_SUM_COLS * COLUMN_SUM_SEGS)
    column_sum_kernel(const A* __restrict__ part, A* __restrict__ out, long long rows, long long n) {
    __shared__ A seg[COLUMN_SUM_SEGS][COLUMN_SUM_COLS];
    const long long col = static_cast<long long>(blockIdx.x) * COLUMN_SUM_COLS + threadIdx.x;
    A sum = 0;
    if (col < n)
        for (long long r = threadIdx.y; r < rows; r += COLUMN_SUM_SEGS) sum += part[r * n + col];
    seg[threadIdx.y][threadIdx.x] = sum;
    __syncthreads();
    if (threadIdx.y == 0 && col < n) {
        A total = 0;
#pragma unroll
        for (int q = 0; q < COLUMN_SUM_SEGS; ++q) total += seg[q][threadIdx.x];
        out[col] = total;
    }
}

// The libraries' extern "C" finish entry points: float (is_f64 0) or double partial sums; launches only, no sync.
// Returns 0 or a cudaError_t.
inline int launch_column_sums(const void* part, void* out, long long rows, long long n, int is_f64, void* stream,
                              int device) {
    const DeviceGuard guard(device);
    if (guard.err != cudaSuccess) return guard.err;
    const dim3 grid(static_cast<unsigned>((n + COLUMN_SUM_COLS - 1) / COLUMN_SUM_COLS)),
        block(COLUMN_SUM_COLS, COLUMN_SUM_SEGS);
    const auto st = static_cast<cudaStream_t>(stream);
    if (is_f64)
        column_sum_kernel<double><<<grid, block, 0, st>>>(static_cast<const double*>(part), static_cast<double*>(out),
                                                          rows, n);
    else
        column_sum_kernel<float><<<grid, block, 0, st>>>(static_cast<const float*>(part), static_cast<float*>(out),
                                                         rows, n);
    return cudaGetLastError();
}
