// The part of the attention after the attention core (docs/model.md, NaLa step 6 / Pola step 7), fused into one
// pass over the tokens. The work buffer holds qkvg with row stride `ld` (q | k | v | g, C channels each); the
// attention core has already written its output o over the q channels. The result u — the input of
// attn.proj — is written over the k channels (k is dead by then), so nothing else is allocated.
//   nala, softmax: u = LayerNorm(o + lepe(v)) ⊙ SiLU(g)   (lepe: depthwise 5×5 on C channels)
//   pola:          u = (o + lepe(v)) ⊙ g                  (lepe: depthwise 5×5 with d filters shared by heads)
// lepe weights are tap-major, (25, filters): w[tap·filters + f] with tap = ky·5 + kx (cuda_weights.h).
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace nalasr::kernels {

// C ≤ kMaxLayerNormChannels (dwconv.cuh).
cudaError_t nala_attention_tail(__half* qkvg, std::int64_t ld, int H, int W, int C, const float* lepe_w,
                                const float* lepe_b, const float* gamma, const float* beta, float eps,
                                cudaStream_t stream);

// lepe_w tap-major (25, d), lepe_b (d), d the head width.
cudaError_t pola_attention_tail(__half* qkvg, std::int64_t ld, int H, int W, int C, int d, const float* lepe_w,
                                const float* lepe_b, cudaStream_t stream);

}  // namespace nalasr::kernels
