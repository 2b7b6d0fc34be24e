#include "cuda/cuda_plan.h"

#include <algorithm>
#include <vector>

#include "conv3x3.cuh"
#include "linear_attention.cuh"

namespace nalasr::cuda {
namespace {

std::size_t round_up(std::size_t v, std::size_t m) { return (v + m - 1) / m * m; }

std::size_t attention_scratch_bytes(const ModelConfig& c, std::size_t N) {
    const std::size_t d = std::size_t(c.head_dim());
    switch (c.attention) {
        case AttentionKind::Softmax: return (N * N + 2 * N * d) * sizeof(float);  // scores, v and o of one head
        case AttentionKind::Nala:
        case AttentionKind::Pola: break;
    }
    return kernels::linear_attention_scratch_floats(std::int64_t(N), c.channels, c.heads) * sizeof(float);
}

}  // namespace

ForwardPlan plan_forward(const ModelConfig& c, int width, int height) {
    ForwardPlan p;
    p.width = width, p.height = height;
    const std::size_t N = std::size_t(width) * std::size_t(height);
    p.tokens = std::int64_t(N);
    const std::size_t C = std::size_t(c.channels), s2 = std::size_t(c.scale) * c.scale;
    p.work_ld = std::max(4 * c.channels, 2 * c.ffn_ratio * c.channels);
    p.chunk_tokens = int(std::min<std::size_t>(
        N, std::clamp<std::size_t>(N / 16, kMinConvChunkTokens, kMaxConvChunkTokens)));
    // im2col rows: conv_first's (Cin = 3) always; those of the C-input convs only where the implicit-GEMM kernel
    // does not take them (conv3x3 in cuda_network.cpp makes the same choice).
    const std::size_t k_pad = kernels::conv3x3_implicit_supported(c.channels)
                                  ? round_up(27, 8)
                                  : std::max<std::size_t>(round_up(27, 8), round_up(9 * C, 8));
    const std::size_t upsample_cout = round_up(3 * s2, 4);
    const std::size_t chunk = std::size_t(p.chunk_tokens);

    auto& b = p.bytes;
    b[std::size_t(Buf::Input)] = N * 3 * sizeof(float);
    b[std::size_t(Buf::Group)] = N * C * 2;
    b[std::size_t(Buf::Residual)] = N * C * 2;
    b[std::size_t(Buf::Spare)] = N * C * 2;
    b[std::size_t(Buf::Normed)] = N * C * 2;
    b[std::size_t(Buf::Work)] = N * std::size_t(p.work_ld) * 2;
    b[std::size_t(Buf::Columns)] = chunk * k_pad * 2;
    b[std::size_t(Buf::Attention)] = attention_scratch_bytes(c, N);
    b[std::size_t(Buf::Rope)] = c.attention == AttentionKind::Nala
                                    ? (std::size_t(height) + std::size_t(width)) * std::size_t(c.head_dim() / 4) * 8
                                    : 0;
    // The implicit kernel shuffles the upsample conv's output straight into the image (Forward::upsample).
    b[std::size_t(Buf::UpsampleOut)] =
        kernels::conv3x3_implicit_supported(c.channels) ? 0 : chunk * upsample_cout * sizeof(float);
    b[std::size_t(Buf::Output)] = N * s2 * 3 * sizeof(float);
    b[std::size_t(Buf::SamplesIn)] = N * kMaxSampleBytesPerPixel;
    b[std::size_t(Buf::SamplesOut)] = N * s2 * kMaxSampleBytesPerPixel;

    // Stages: 0 unpack, 1 head, 2 body, 3 conv_after, 4 upsample, 5 pack (see cuda_plan.h).
    p.lifetime = {{
        {0, 3},  // Input
        {1, 3},  // Group: written by conv_first at stage 1, read by conv_after at stage 3
        {2, 4},  // Residual: the body, then feat + conv_after(y) (stage 3), read by the upsample conv (stage 4)
        {2, 2},  // Spare
        {2, 2},  // Normed
        {2, 2},  // Work
        {1, 4},  // Columns
        {2, 2},  // Attention
        {0, 5},  // Rope: written once per arena (prepare_arena), read by every pass, so live in every stage
        {4, 4},  // UpsampleOut
        {4, 5},  // Output
        {0, 0},  // SamplesIn
        {5, 5},  // SamplesOut
    }};
    std::vector<BufferLifetime> buffers;
    for (std::size_t i = 0; i < b.size(); ++i) buffers.push_back({b[i], p.lifetime[i].first, p.lifetime[i].second});
    p.memory = plan_memory(buffers);
    return p;
}

}  // namespace nalasr::cuda
