#include "cpu/network_program.h"

#include <algorithm>

#include "cpu/ops.h"
#include "cpu/parallel.h"

namespace nalasr::cpu {
namespace {

class ProgramBuilder {
public:
    int buffer(std::size_t floats) {
        program_.buffer_bytes.push_back(floats * sizeof(float));
        return int(program_.buffer_bytes.size() - 1);
    }
    void step(const char* name, std::vector<int> buffers, std::function<void(float* const*)> run,
              std::size_t scratch_bytes = 0) {
        program_.steps.push_back({name, std::move(buffers), scratch_bytes, false, std::move(run)});
    }
    void end_block() {
        program_.steps.back().ends_block = true;
        ++program_.progress_units;
    }
    Program finish() { return std::move(program_); }

private:
    Program program_;
};

constexpr float kLayerNormEps = 1e-5f;

// One block (docs/model.md, "Block"). `z` is the block input; returns the buffer holding its output.
int add_block(ProgramBuilder& b, const BlockWeights& w, const ModelConfig& cfg, int H, int W, int z) {
    const std::size_t N = std::size_t(H) * W;
    const int C = cfg.channels, R = cfg.ffn_ratio * C, heads = cfg.heads, d = cfg.head_dim();
    const AttentionKind kind = cfg.attention;

    const int z1 = b.buffer(N * C);
    b.step("cpe1", {z, z1}, [=, &w](float* const* m) { dwconv(m[z], H, W, C, 3, w.cpe1.w, w.cpe1.b, m[z1], true); });

    // Attention branch.
    const int u = b.buffer(N * C), qkvg = b.buffer(N * 4 * C);
    b.step("norm1", {z1, u},
           [=, &w](float* const* m) { layernorm(m[z1], N, C, w.norm1.w, w.norm1.b, kLayerNormEps, m[u]); });
    b.step("qkvg", {u, qkvg}, [=, &w](float* const* m) { linear(m[u], N, C, C, w.qkvg.w, w.qkvg.b, 4 * C, m[qkvg]); });
    if (kind == AttentionKind::Pola) {
        const int k = b.buffer(N * C), k_biased = b.buffer(N * C);
        b.step("pola_k", {qkvg, k}, [=](float* const* m) { gather_channels(m[qkvg] + C, N, 4 * C, C, m[k]); });
        b.step("pola_kpos", {k, k_biased},
               [=, &w](float* const* m) { dwconv(m[k], H, W, C, 3, w.kpos.w, w.kpos.b, m[k_biased], true); });
        b.step("pola_scale", {qkvg, k_biased},
               [=, sigma = w.sigma.data()](float* const* m) { pola_scale_qk(m[qkvg], N, C, m[k_biased], sigma); });
    }
    // lepe(v) before the attention core: v's copy is then dead while the core runs (a smaller peak).
    const int v = b.buffer(N * C), lepe = b.buffer(N * C);
    b.step("gather_v", {qkvg, v}, [=](float* const* m) { gather_channels(m[qkvg] + 2 * C, N, 4 * C, C, m[v]); });
    b.step("lepe", {v, lepe}, [=, &w](float* const* m) {
        if (kind == AttentionKind::Pola) dwconv_shared(m[v], H, W, C, d, 5, w.lepe.w, w.lepe.b, m[lepe]);
        else dwconv(m[v], H, W, C, 5, w.lepe.w, w.lepe.b, m[lepe]);
    });
    const int o = b.buffer(N * C);
    const std::size_t attention_scratch = attention_scratch_bytes(int(kind), N, C, heads);
    b.step("attention", {qkvg, o}, [=, &w](float* const* m) {
        switch (kind) {
            case AttentionKind::Nala: nala_attention(m[qkvg], H, W, C, heads, m[o]); break;
            case AttentionKind::Pola: pola_attention(m[qkvg], H, W, C, heads, w.power, m[o]); break;
            case AttentionKind::Softmax: softmax_attention(m[qkvg], H, W, C, heads, m[o]); break;
        }
    }, attention_scratch);
    b.step("add_lepe", {o, lepe}, [=](float* const* m) { add_inplace(m[o], m[lepe], N * C); });
    const bool silu = kind != AttentionKind::Pola;  // pola gates with g itself, and has no attn.norm
    b.step("gate", {o, qkvg}, [=, &w](float* const* m) {
        if (silu) layernorm(m[o], N, C, w.attn_norm.w, w.attn_norm.b, kLayerNormEps, m[o]);
        gate_inplace(m[o], N, C, m[qkvg] + 3 * C, 4 * C, silu);
    });
    const int a = b.buffer(N * C);
    b.step("proj", {o, a}, [=, &w](float* const* m) { linear(m[o], N, C, C, w.proj.w, w.proj.b, C, m[a]); });
    b.step("attn_residual", {z1, a}, [=](float* const* m) { add_inplace(m[z1], m[a], N * C); });

    // FFN branch.
    const int z2 = b.buffer(N * C);
    b.step("cpe2", {z1, z2}, [=, &w](float* const* m) { dwconv(m[z1], H, W, C, 3, w.cpe2.w, w.cpe2.b, m[z2], true); });
    const int u2 = b.buffer(N * C), t = b.buffer(N * R);
    b.step("norm2", {z2, u2},
           [=, &w](float* const* m) { layernorm(m[z2], N, C, w.norm2.w, w.norm2.b, kLayerNormEps, m[u2]); });
    b.step("fc1", {u2, t}, [=, &w](float* const* m) {
        linear(m[u2], N, C, C, w.fc1.w, w.fc1.b, R, m[t]);
        gelu_inplace(m[t], N * R);
    });
    const int t2 = b.buffer(N * R);
    b.step("ffn_dwconv", {t, t2},
           [=, &w](float* const* m) { dwconv(m[t], H, W, R, 3, w.ffn_dwconv.w, w.ffn_dwconv.b, m[t2], true); });
    const int f = b.buffer(N * C);
    b.step("fc2", {t2, f}, [=, &w](float* const* m) { linear(m[t2], N, R, R, w.fc2.w, w.fc2.b, C, m[f]); });
    b.step("ffn_residual", {z2, f}, [=](float* const* m) { add_inplace(m[z2], m[f], N * C); });
    b.end_block();
    return z2;
}

}  // namespace

std::vector<BufferLifetime> Program::lifetimes() const {
    std::vector<BufferLifetime> result(buffer_bytes.size());
    std::vector<bool> seen(buffer_bytes.size(), false);
    for (std::size_t i = 0; i < buffer_bytes.size(); ++i) result[i].bytes = buffer_bytes[i];
    for (int s = 0; s < int(steps.size()); ++s) {
        for (int id : steps[std::size_t(s)].buffers) {
            if (!seen[std::size_t(id)]) result[std::size_t(id)].first_step = s;
            seen[std::size_t(id)] = true;
            result[std::size_t(id)].last_step = s;
        }
    }
    return result;
}

std::size_t Program::max_scratch_bytes() const {
    std::size_t bytes = 0;
    for (const auto& step : steps) bytes = std::max(bytes, step.scratch_bytes);
    return bytes;
}

Program build_network_program(const NetworkWeights& weights, int H, int W, const float* rgb, float* out) {
    const ModelConfig& cfg = weights.config();
    const std::size_t N = std::size_t(H) * W;
    const int C = cfg.channels, s = cfg.scale, up_channels = 3 * s * s;
    const std::size_t conv_c_scratch = conv3x3_scratch_bytes(H, W, C);
    ProgramBuilder b;

    const int x0 = b.buffer(N * 3), feat = b.buffer(N * C);
    b.step("input", {x0}, [=](float* const* m) {
        for (std::size_t i = 0; i < N * 3; ++i) m[x0][i] = rgb[i] - 0.5f;
    });
    const WeightBias first = weights.conv_first;
    b.step("conv_first", {x0, feat}, [=](float* const* m) { conv3x3(m[x0], H, W, 3, first.w, first.b, C, m[feat]); },
           conv3x3_scratch_bytes(H, W, 3));
    int y = b.buffer(N * C);
    b.step("copy_feat", {feat, y}, [=](float* const* m) { std::copy(m[feat], m[feat] + N * C, m[y]); });

    for (int g = 0; g < cfg.groups; ++g) {
        int z = b.buffer(N * C);
        b.step("group_input", {y, z}, [=](float* const* m) { std::copy(m[y], m[y] + N * C, m[z]); });
        for (int blk = 0; blk < cfg.blocks; ++blk)
            z = add_block(b, weights.blocks[std::size_t(g)][std::size_t(blk)], cfg, H, W, z);
        const int conv = b.buffer(N * C);
        const WeightBias gc = weights.group_conv[std::size_t(g)];
        b.step("group_conv", {z, conv}, [=](float* const* m) { conv3x3(m[z], H, W, C, gc.w, gc.b, C, m[conv]); },
               conv_c_scratch);
        b.step("group_residual", {y, conv}, [=](float* const* m) { add_inplace(m[y], m[conv], N * C); });
    }

    const int after = b.buffer(N * C);
    const WeightBias ca = weights.conv_after, upc = weights.upsample;
    b.step("conv_after", {y, after}, [=](float* const* m) { conv3x3(m[y], H, W, C, ca.w, ca.b, C, m[after]); },
           conv_c_scratch);
    b.step("long_skip", {after, feat}, [=](float* const* m) { add_inplace(m[after], m[feat], N * C); });
    const int up = b.buffer(N * up_channels);
    b.step("upsample_conv", {after, up},
           [=](float* const* m) { conv3x3(m[after], H, W, C, upc.w, upc.b, up_channels, m[up]); }, conv_c_scratch);
    b.step("pixel_shuffle", {up}, [=](float* const* m) {
        pixel_shuffle(m[up], H, W, 3, s, out);
        const std::size_t n = N * up_channels;
#pragma omp parallel for schedule(static) if (n >= kParallelMinWork)
        for (std::size_t i = 0; i < n; ++i) out[i] += 0.5f;
    });
    b.end_block();
    return b.finish();
}

}  // namespace nalasr::cpu
