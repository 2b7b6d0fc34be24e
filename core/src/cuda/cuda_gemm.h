// GEMMs of the network through cuBLASLt: y (n, m) = x (n, k) · wᵀ (+ bias) (+ y), token-major, float16
// operands, float32 accumulation, float16 or float32 output. The bias and the residual add (beta = 1, y read
// and written in place) run in cuBLASLt's epilogue; when no fused algorithm exists for a shape, the bias is
// added by a separate kernel instead.
#pragma once

#include <cuda_fp16.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>

#include "cuda/cuda_context.h"
#include "nalasr/status.h"

namespace nalasr::cuda {

enum class GemmOutput { F16, F32 };

struct GemmArgs {
    int m = 0;           // output features
    std::int64_t n = 0;  // tokens
    int k = 0;           // input features
    const __half* w = nullptr;  // (m, k), row stride k (PyTorch's Linear layout)
    const __half* x = nullptr;  // (n, k), row stride ldx
    std::int64_t ldx = 0;
    void* y = nullptr;          // (n, m), row stride ldy, of type `out`
    std::int64_t ldy = 0;
    GemmOutput out = GemmOutput::F32;
    const void* bias = nullptr; // (m), of type `out`; null for none
    bool accumulate = false;    // y += x·wᵀ (+ bias)
};

Status gemm(CudaContext& ctx, const GemmArgs& args);

// The cache key of a GEMM plan: everything cuBLASLt's algorithm choice depends on.
struct GemmKey {
    int m, k;
    std::int64_t n, ldx, ldy;
    int out, bias, accumulate;
    int align_w, align_x, align_y, align_bias;
    auto tie() const { return std::tie(m, k, n, ldx, ldy, out, bias, accumulate, align_w, align_x, align_y, align_bias); }
    bool operator<(const GemmKey& o) const { return tie() < o.tie(); }
};

struct GemmPlan;  // descriptors, layouts and the chosen algorithm (cuda_gemm.cpp)

// Plans by key, owned by the CudaContext. Thread-safe.
class GemmCache {
public:
    GemmCache();
    ~GemmCache();
    std::mutex mutex;
    std::map<GemmKey, std::unique_ptr<GemmPlan>> plans;
};

}  // namespace nalasr::cuda
