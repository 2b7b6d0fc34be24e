// Error checks for CUDA runtime and cuBLAS calls. One generic macro records the failing statement, function,
// file:line and device, and returns the error as a Status from the enclosing function (which must return
// Status): the engine never aborts, so the GUI survives a GPU failure. A kernel launcher call is checked like any
// other call; its statement text names the op.
#pragma once

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "nalasr/status.h"

namespace nalasr::cuda {

// Builds the Status of a failed call; `out_of_memory` selects StatusCode::OutOfMemory over Internal.
Status gpu_call_failed(const char* statement, const char* function, const char* file, int line,
                       const char* error_text, bool out_of_memory);

inline const char* error_text(cudaError_t e) { return cudaGetErrorString(e); }
inline const char* error_text(cublasStatus_t s) { return cublasGetStatusString(s); }
inline bool is_out_of_memory(cudaError_t e) { return e == cudaErrorMemoryAllocation; }
inline bool is_out_of_memory(cublasStatus_t s) { return s == CUBLAS_STATUS_ALLOC_FAILED; }

}  // namespace nalasr::cuda

#define NALASR_GPU_CHECK_GEN(call, success)                                                                       \
    do {                                                                                                          \
        const auto nalasr_result_ = (call);                                                                       \
        if (nalasr_result_ != (success))                                                                          \
            return ::nalasr::cuda::gpu_call_failed(#call, __func__, __FILE__, __LINE__,                            \
                                                   ::nalasr::cuda::error_text(nalasr_result_),                     \
                                                   ::nalasr::cuda::is_out_of_memory(nalasr_result_));              \
    } while (0)

#define NALASR_CUDA_CHECK(call) NALASR_GPU_CHECK_GEN(call, cudaSuccess)
#define NALASR_CUBLAS_CHECK(call) NALASR_GPU_CHECK_GEN(call, CUBLAS_STATUS_SUCCESS)

// Propagates a failed Status from a helper.
#define NALASR_RETURN_IF_ERROR(expr)                       \
    do {                                                   \
        if (::nalasr::Status nalasr_st_ = (expr); !nalasr_st_) \
            return nalasr_st_;                             \
    } while (0)
