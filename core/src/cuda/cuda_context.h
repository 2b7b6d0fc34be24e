// The per-backend CUDA state: device, stream, cuBLAS and cuBLASLt handles, the GEMM workspace and the cache of
// GEMM plans. Created lazily by activate(); op code never creates handles of its own.
#pragma once

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <memory>

#include "nalasr/status.h"

namespace nalasr::cuda {

class GemmCache;  // cuda_gemm.h

class CudaContext {
public:
    // The workspace cuBLAS(Lt) may use per GEMM; counted in every memory prediction.
    static constexpr std::size_t kWorkspaceBytes = std::size_t(8) << 20;

    explicit CudaContext(int device);
    ~CudaContext();
    CudaContext(const CudaContext&) = delete;
    CudaContext& operator=(const CudaContext&) = delete;

    // Makes the device current for the calling thread and creates the handles on first use.
    Status activate();

    int device() const { return device_; }
    cudaStream_t stream() const { return stream_; }
    cublasHandle_t blas() const { return blas_; }
    cublasLtHandle_t blas_lt() const { return blas_lt_; }
    void* workspace() const { return workspace_; }

    GemmCache& gemm_cache() { return *gemm_cache_; }

private:
    int device_;
    bool ready_ = false;
    cudaStream_t stream_ = nullptr;
    cublasHandle_t blas_ = nullptr;
    cublasLtHandle_t blas_lt_ = nullptr;
    void* workspace_ = nullptr;
    std::unique_ptr<GemmCache> gemm_cache_;
};

}  // namespace nalasr::cuda
