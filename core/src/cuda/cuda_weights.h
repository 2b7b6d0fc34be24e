// The model's weights on the device, repacked once at load for the CUDA kernels:
//   Linear layers:     float16 (out, in) for the GEMMs; the bias in the GEMM's output type.
//   3×3 convolutions:  float16 (cout_pad, k_pad) rows of [(ky·3 + kx)·Cin + ci] (the im2col column order),
//                      cout padded to a multiple of 4 and K to a multiple of 8 with zeros; the bias in float32
//                      (implicit kernel, float32 GEMM output) and float16 (float16 GEMM output).
//   Depthwise convs:   float32 tap-major, (k·k, channels): w[tap·channels + c].
//   Norms, Pola's constants: float32 as in the file (Pola's σ and p precomputed).
// All of it lives in one device allocation.
#pragma once

#include <cuda_fp16.h>

#include <cstddef>
#include <vector>

#include "cuda/device_buffer.h"
#include "nalasr/model.h"
#include "nalasr/status.h"

namespace nalasr::cuda {

struct LinearWeights {
    const __half* w = nullptr;
    const void* bias = nullptr;  // float16 or float32: the type of the GEMM's output
    int out = 0, in = 0;
};

struct Conv3x3Weights {
    const __half* w = nullptr;
    const float* bias = nullptr;     // cout_pad entries
    const __half* bias16 = nullptr;  // the same in float16: the bias of an im2col GEMM with float16 output
    int cout = 0, cout_pad = 0, cin = 0, k_pad = 0;
};

struct DepthwiseWeights {
    const float* w = nullptr;  // tap-major: (k·k, channels)
    const float* bias = nullptr;
};

struct NormWeights {
    const float* gamma = nullptr;
    const float* beta = nullptr;
};

struct BlockWeights {
    DepthwiseWeights cpe1, cpe2, lepe, ffn_dwconv;
    NormWeights norm1, norm2, attn_norm;  // attn_norm: nala and softmax
    LinearWeights qkvg, proj, fc1, fc2;   // all write float16 (proj and fc2 into the float16 residual)
    DepthwiseWeights kpos;                // pola
    const float* inv_sigma = nullptr;     // pola: 1 / softplus(attn.scale), C
    const float* power = nullptr;         // pola: 1 + 4·sigmoid(attn.power), heads·d
};

struct NetworkWeights {
    Conv3x3Weights conv_first, conv_after, upsample;
    std::vector<Conv3x3Weights> group_convs;  // G
    std::vector<BlockWeights> blocks;         // G·B, group-major
    DeviceBuffer storage;
};

// Repacks and uploads every tensor the model's config needs (the model has been validated on load).
Status upload_weights(const Model& model, NetworkWeights* out);

}  // namespace nalasr::cuda
