// Row-major single-precision GEMM, C = alpha·A·op(B) + beta·C, parallel over row blocks of A and C.
//
// Threading: the CPU backend uses one thread pool, OpenMP's. OpenBLAS (Debian's pthread build) is set to one
// thread and called from each OpenMP thread on its own rows. Mixing the two pools (BLAS threads between OpenMP
// regions) made both spin against each other: up to 7× slower on 2 cores for small images.
#pragma once

#include <cstddef>

namespace nalasr::cpu {

// A: (M, K) with row stride lda; B: (K, N) with row stride ldb, or (N, K) when b_transposed; C: (M, N), ldc.
void gemm(std::size_t M, int N, int K, float alpha, const float* A, std::size_t lda, const float* B,
          std::size_t ldb, bool b_transposed, float beta, float* C, std::size_t ldc);

}  // namespace nalasr::cpu
