#include "cuda/cuda_gemm.h"

#include <algorithm>

#include "convert.cuh"
#include "cuda/cuda_check.h"

namespace nalasr::cuda {

struct GemmPlan {
    cublasLtMatmulDesc_t desc = nullptr;
    cublasLtMatrixLayout_t w = nullptr, x = nullptr, y = nullptr;
    cublasLtMatmulAlgo_t algo{};
    bool fused_bias = false;  // false: the bias is added by a kernel after the GEMM

    ~GemmPlan() {
        if (y) cublasLtMatrixLayoutDestroy(y);
        if (x) cublasLtMatrixLayoutDestroy(x);
        if (w) cublasLtMatrixLayoutDestroy(w);
        if (desc) cublasLtMatmulDescDestroy(desc);
    }
};

GemmCache::GemmCache() = default;
GemmCache::~GemmCache() = default;

namespace {

// The largest power of two (≤ 256) dividing the address: what cuBLASLt may assume about the pointer.
int alignment_of(const void* p) {
    const auto a = reinterpret_cast<std::uintptr_t>(p);
    return a == 0 ? 256 : int(std::min<std::uintptr_t>(256, a & (~a + 1)));
}

cudaDataType_t output_type(GemmOutput out) { return out == GemmOutput::F16 ? CUDA_R_16F : CUDA_R_32F; }

// Descriptors for the epilogue `epilogue` and the best algorithm cuBLASLt's heuristic offers; `found` is false
// when it offers none.
Status build_plan(CudaContext& ctx, const GemmArgs& a, const GemmKey& key, cublasLtEpilogue_t epilogue,
                  GemmPlan* plan, bool* found) {
    // cuBLASLt is column-major: y (n, m) row-major is Y (m × n) = Wᵀ-op(W) · X with W stored as k × m (ld k)
    // and X as k × n (ld ldx).
    NALASR_CUBLAS_CHECK(cublasLtMatmulDescCreate(&plan->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    const cublasOperation_t transpose = CUBLAS_OP_T;
    NALASR_CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_TRANSA, &transpose, sizeof(transpose)));
    NALASR_CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof(epilogue)));
    if (epilogue == CUBLASLT_EPILOGUE_BIAS)
        NALASR_CUBLAS_CHECK(
            cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &a.bias, sizeof(a.bias)));
    NALASR_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->w, CUDA_R_16F, a.k, a.m, a.k));
    NALASR_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->x, CUDA_R_16F, a.k, a.n, a.ldx));
    NALASR_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->y, output_type(a.out), a.m, a.n, a.ldy));

    cublasLtMatmulPreference_t pref = nullptr;
    NALASR_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    const std::size_t workspace = CudaContext::kWorkspaceBytes;
    const std::uint32_t align_w = key.align_w, align_x = key.align_x, align_y = key.align_y;
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace,
                                         sizeof(workspace));
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &align_w, sizeof(align_w));
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &align_x, sizeof(align_x));
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &align_y, sizeof(align_y));
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &align_y, sizeof(align_y));
    cublasLtMatmulHeuristicResult_t result{};
    int count = 0;
    const cublasStatus_t s = cublasLtMatmulAlgoGetHeuristic(ctx.blas_lt(), plan->desc, plan->w, plan->x, plan->y,
                                                            plan->y, pref, 1, &result, &count);
    cublasLtMatmulPreferenceDestroy(pref);
    *found = s == CUBLAS_STATUS_SUCCESS && count > 0;
    if (*found) plan->algo = result.algo;
    else if (s != CUBLAS_STATUS_NOT_SUPPORTED) NALASR_CUBLAS_CHECK(s);
    return Status::ok();
}

Status find_plan(CudaContext& ctx, const GemmArgs& a, GemmPlan** out) {
    const GemmKey key{a.m, a.k, a.n, a.ldx, a.ldy, int(a.out), a.bias != nullptr, a.accumulate,
                      alignment_of(a.w), alignment_of(a.x), alignment_of(a.y), alignment_of(a.bias)};
    GemmCache& cache = ctx.gemm_cache();
    std::lock_guard<std::mutex> lock(cache.mutex);
    if (auto it = cache.plans.find(key); it != cache.plans.end()) {
        *out = it->second.get();
        return Status::ok();
    }
    auto plan = std::make_unique<GemmPlan>();
    bool found = false;
    if (a.bias) {
        NALASR_RETURN_IF_ERROR(build_plan(ctx, a, key, CUBLASLT_EPILOGUE_BIAS, plan.get(), &found));
        plan->fused_bias = found;
    }
    if (!found) {
        plan = std::make_unique<GemmPlan>();
        NALASR_RETURN_IF_ERROR(build_plan(ctx, a, key, CUBLASLT_EPILOGUE_DEFAULT, plan.get(), &found));
    }
    if (!found)
        return {StatusCode::Internal, "cuBLASLt offers no algorithm for the GEMM m=" + std::to_string(a.m) +
                                          " n=" + std::to_string(a.n) + " k=" + std::to_string(a.k)};
    *out = plan.get();
    cache.plans.emplace(key, std::move(plan));
    return Status::ok();
}

}  // namespace

Status gemm(CudaContext& ctx, const GemmArgs& a) {
    if (a.m <= 0 || a.k <= 0 || a.n < 0 || a.ldx < a.k || a.ldy < a.m || !a.w || !a.x || !a.y)
        return {StatusCode::Internal, "invalid GEMM arguments m=" + std::to_string(a.m) + " n=" + std::to_string(a.n) +
                                          " k=" + std::to_string(a.k)};
    if (a.n == 0) return Status::ok();
    GemmPlan* plan = nullptr;
    NALASR_RETURN_IF_ERROR(find_plan(ctx, a, &plan));
    if (plan->fused_bias)  // the pointer is part of the descriptor; the plan may have been built for another layer
        NALASR_CUBLAS_CHECK(
            cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &a.bias, sizeof(a.bias)));
    const float alpha = 1.0f, beta = a.accumulate ? 1.0f : 0.0f;
    NALASR_CUBLAS_CHECK(cublasLtMatmul(ctx.blas_lt(), plan->desc, &alpha, a.w, plan->w, a.x, plan->x, &beta, a.y,
                                       plan->y, a.y, plan->y, &plan->algo, ctx.workspace(),
                                       CudaContext::kWorkspaceBytes, ctx.stream()));
    if (a.bias && !plan->fused_bias) {
        if (a.out == GemmOutput::F32)
            NALASR_CUDA_CHECK(kernels::add_bias_f32(static_cast<float*>(a.y), a.n, a.m, a.ldy,
                                                    static_cast<const float*>(a.bias), ctx.stream()));
        else
            NALASR_CUDA_CHECK(kernels::add_bias_f16(static_cast<__half*>(a.y), a.n, a.m, a.ldy,
                                                    static_cast<const __half*>(a.bias), ctx.stream()));
    }
    return Status::ok();
}

}  // namespace nalasr::cuda
