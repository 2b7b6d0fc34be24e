// Shared by the ctypes-loaded CUDA libraries of models/ (built by cuda_ext.py): element types, conversions to
// the math type, and the device guard of the extern "C" entry points.
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
