#include "cuda/cuda_context.h"

#include "cuda/cuda_check.h"
#include "cuda/cuda_gemm.h"

namespace nalasr::cuda {

CudaContext::CudaContext(int device) : device_(device), gemm_cache_(std::make_unique<GemmCache>()) {}

CudaContext::~CudaContext() {
    if (!ready_) return;
    cudaSetDevice(device_);
    gemm_cache_.reset();  // its descriptors go before the handles
    cudaStreamSynchronize(stream_);
    cublasLtDestroy(blas_lt_);
    cublasDestroy(blas_);
    cudaFree(workspace_);
    cudaStreamDestroy(stream_);
}

Status CudaContext::activate() {
    NALASR_CUDA_CHECK(cudaSetDevice(device_));
    if (ready_) return Status::ok();
    // Partial creation is undone by the destructor only once ready_ is set, so build into locals first.
    cudaStream_t stream = nullptr;
    NALASR_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    cublasHandle_t blas = nullptr;
    if (cublasStatus_t s = cublasCreate(&blas); s != CUBLAS_STATUS_SUCCESS) {
        cudaStreamDestroy(stream);
        NALASR_CUBLAS_CHECK(s);
    }
    cublasLtHandle_t blas_lt = nullptr;
    void* workspace = nullptr;
    const cublasStatus_t lt = cublasLtCreate(&blas_lt);
    const cudaError_t ws = lt == CUBLAS_STATUS_SUCCESS ? cudaMalloc(&workspace, kWorkspaceBytes) : cudaSuccess;
    if (lt != CUBLAS_STATUS_SUCCESS || ws != cudaSuccess) {
        if (blas_lt) cublasLtDestroy(blas_lt);
        cublasDestroy(blas);
        cudaStreamDestroy(stream);
        NALASR_CUBLAS_CHECK(lt);
        NALASR_CUDA_CHECK(ws);
    }
    stream_ = stream, blas_ = blas, blas_lt_ = blas_lt, workspace_ = workspace;
    ready_ = true;
    NALASR_CUBLAS_CHECK(cublasSetStream(blas_, stream_));
    NALASR_CUBLAS_CHECK(cublasSetWorkspace(blas_, workspace_, kWorkspaceBytes));
    return Status::ok();
}

}  // namespace nalasr::cuda
