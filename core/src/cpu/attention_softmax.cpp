// Softmax attention (the quadratic-memory baseline): per head, the N×N score matrix is materialised.
//
// Threading: OpenMP only — the two GEMMs per head (cpu/gemm.h) and the row softmax between them.
#include <algorithm>
#include <cmath>

#include "cpu/gemm.h"
#include "cpu/ops.h"
#include "cpu/parallel.h"
#include "cpu/scratch.h"

namespace nalasr::cpu {

void softmax_attention(const float* qkvg, int H, int W, int C, int heads, float* out) {
    const std::size_t N = std::size_t(H) * W;
    const int d = C / heads;
    const std::size_t ld = std::size_t(4) * C;
    Scratch scores(N * N);
    float* P = scores.data();
    for (int h = 0; h < heads; ++h) {
        const float* q = qkvg + h * d;
        const float* k = qkvg + C + h * d;
        const float* v = qkvg + 2 * C + h * d;
        gemm(N, int(N), d, 1.0f / std::sqrt(float(d)), q, ld, k, ld, true, 0.0f, P, N);
#pragma omp parallel for schedule(static) if (N * N >= kParallelMinWork)
        for (std::size_t i = 0; i < N; ++i) {
            float* row = P + i * N;
            const float max = *std::max_element(row, row + N);
            float sum = 0.0f;
            for (std::size_t j = 0; j < N; ++j) {
                row[j] = std::exp(row[j] - max);
                sum += row[j];
            }
            const float inv = 1.0f / sum;
            for (std::size_t j = 0; j < N; ++j) row[j] *= inv;
        }
        gemm(N, d, int(N), 1.0f, P, N, v, ld, false, 0.0f, out + h * d, std::size_t(C));
    }
}

}  // namespace nalasr::cpu
