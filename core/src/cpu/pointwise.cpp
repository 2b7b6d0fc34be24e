// Per-token ops: linear (GEMM, cpu/gemm.h), LayerNorm, activations, channel slices. All OpenMP.
#include <algorithm>
#include <cmath>

#include "cpu/gemm.h"
#include "cpu/ops.h"
#include "cpu/parallel.h"

namespace nalasr::cpu {

void linear(const float* x, std::size_t N, int Cin, std::size_t x_stride, const float* w, const float* b, int Cout,
            float* out) {
    if (N == 0) return;
    if (b) {
#pragma omp parallel for schedule(static) if (N * Cout >= kParallelMinWork)
        for (std::size_t t = 0; t < N; ++t) std::copy(b, b + Cout, out + t * Cout);
    }
    gemm(N, Cout, Cin, 1.0f, x, x_stride, w, std::size_t(Cin), true, b ? 1.0f : 0.0f, out, std::size_t(Cout));
}

void layernorm(const float* x, std::size_t N, int C, const float* gamma, const float* beta, float eps, float* out) {
#pragma omp parallel for schedule(static) if (N * C >= kParallelMinWork)
    for (std::size_t t = 0; t < N; ++t) {
        const float* v = x + t * C;
        float mean = 0.0f;
        for (int c = 0; c < C; ++c) mean += v[c];
        mean /= float(C);
        float var = 0.0f;
        for (int c = 0; c < C; ++c) var += (v[c] - mean) * (v[c] - mean);
        const float inv = 1.0f / std::sqrt(var / float(C) + eps);
        float* o = out + t * C;
        for (int c = 0; c < C; ++c) o[c] = (v[c] - mean) * inv * gamma[c] + beta[c];
    }
}

void gelu_inplace(float* x, std::size_t n) {
#pragma omp parallel for schedule(static) if (n >= kParallelMinWork)
    for (std::size_t i = 0; i < n; ++i) x[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * float(M_SQRT1_2)));
}

void silu_inplace(float* x, std::size_t n) {
#pragma omp parallel for schedule(static) if (n >= kParallelMinWork)
    for (std::size_t i = 0; i < n; ++i) x[i] = x[i] / (1.0f + std::exp(-x[i]));
}

void add_inplace(float* dst, const float* src, std::size_t n) {
#pragma omp parallel for schedule(static) if (n >= kParallelMinWork)
    for (std::size_t i = 0; i < n; ++i) dst[i] += src[i];
}

void mul_inplace(float* dst, const float* src, std::size_t n) {
#pragma omp parallel for schedule(static) if (n >= kParallelMinWork)
    for (std::size_t i = 0; i < n; ++i) dst[i] *= src[i];
}

void gather_channels(const float* x, std::size_t N, std::size_t x_stride, int C, float* out) {
#pragma omp parallel for schedule(static) if (N * C >= kParallelMinWork)
    for (std::size_t t = 0; t < N; ++t) std::copy(x + t * x_stride, x + t * x_stride + C, out + t * C);
}

void gate_inplace(float* x, std::size_t N, int C, const float* g, std::size_t g_stride, bool silu) {
#pragma omp parallel for schedule(static) if (N * C >= kParallelMinWork)
    for (std::size_t t = 0; t < N; ++t) {
        float* v = x + t * C;
        const float* gt = g + t * g_stride;
        for (int c = 0; c < C; ++c) v[c] *= silu ? gt[c] / (1.0f + std::exp(-gt[c])) : gt[c];
    }
}

void pola_scale_qk(float* qkvg, std::size_t N, int C, const float* k_biased, const float* sigma) {
#pragma omp parallel for schedule(static) if (N * C >= kParallelMinWork)
    for (std::size_t t = 0; t < N; ++t) {
        float* q = qkvg + t * 4 * C;
        float* k = q + C;
        const float* kb = k_biased + t * C;
        for (int c = 0; c < C; ++c) {
            q[c] /= sigma[c];
            k[c] = kb[c] / sigma[c];
        }
    }
}

}  // namespace nalasr::cpu
