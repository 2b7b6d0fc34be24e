#include "cpu/gemm.h"

#include <algorithm>
#include <cblas.h>
#include <mutex>
#include <omp.h>

#include "cpu/parallel.h"

namespace nalasr::cpu {
namespace {

void single_threaded_blas() {
    static std::once_flag once;
    std::call_once(once, [] { openblas_set_num_threads(1); });
}

}  // namespace

void gemm(std::size_t M, int N, int K, float alpha, const float* A, std::size_t lda, const float* B,
          std::size_t ldb, bool b_transposed, float beta, float* C, std::size_t ldc) {
    if (M == 0 || N == 0) return;
    single_threaded_blas();
    const CBLAS_TRANSPOSE trans_b = b_transposed ? CblasTrans : CblasNoTrans;
    auto rows = [&](std::size_t begin, std::size_t end) {
        if (end > begin)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, trans_b, int(end - begin), N, K, alpha, A + begin * lda, int(lda),
                        B, int(ldb), beta, C + begin * ldc, int(ldc));
    };
    if (double(M) * N * K < double(kParallelMinWork) || omp_get_max_threads() == 1) {
        rows(0, M);
        return;
    }
#pragma omp parallel
    {
        const std::size_t threads = std::size_t(omp_get_num_threads()), t = std::size_t(omp_get_thread_num());
        const std::size_t per_thread = (M + threads - 1) / threads;
        rows(std::min(M, t * per_thread), std::min(M, (t + 1) * per_thread));
    }
}

}  // namespace nalasr::cpu
