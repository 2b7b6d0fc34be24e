// CPU emulation of the CUDA backend's float16 roundings, to estimate what a storage change costs end to end
// before it runs on a GPU (docs/cuda_notes.md, run 6). Not part of the build; compile against a built tree:
//
//   g++ -O2 -std=c++20 -fopenmp -Icore/include -Icore/src -Itests kernels/bench/emulate_fp16_residual.cpp \
//       build/core/libnalasr_core.a <the libraries nalasr_core links> -o /tmp/emulate
//   /tmp/emulate [model.safetensors image.png ...]   (no arguments: the end-to-end test's random-model cases)
//
// Three forwards of the network from the CPU reference ops (core/src/cpu/ops.h):
//   f32     the CPU backend (float32 everywhere);
//   run5    the CUDA design of run 5: float16 GEMM/conv weights, qkvg/fc1 biases, LayerNorm outputs, qkvg,
//           attention output, tail output, FFN hidden, 3×3 conv inputs and the group input y; float32 residual;
//   f16res  run 6: additionally every residual write rounded to float16 (cpe1/cpe2 outputs, proj/fc2 and group
//           conv/conv_after epilogues, conv_first's output = feat), proj/fc2/conv_first biases float16.
// Each is compared with f32 as the CUDA test does (PSNR of the 8-bit outputs, float NMSE).
#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <string>
#include <vector>

#include "cpu/network_weights.h"
#include "cpu/ops.h"
#include "nalasr/model.h"
#include "test_util.h"

using namespace nalasr;
using Vec = std::vector<float>;

namespace {

float r16(float x) { return __half2float(__float2half_rn(x)); }
void round_all(Vec& v) {
    for (float& x : v) x = r16(x);
}

enum class Mode { F32, Run5, F16Residual };

// The model as the GPU holds it: GEMM and conv weights float16, the biases of float16-output GEMMs float16.
Model gpu_weights(const Model& m, Mode mode) {
    Model out = m;
    for (auto& [name, t] : out.mutable_tensors()) {
        const auto has = [&](const char* s) { return name.find(s) != std::string::npos; };
        const bool gemm = has("attn.qkvg") || has("attn.proj") || has("ffn.fc1") || has("ffn.fc2");
        const bool conv = name.rfind("conv_first", 0) == 0 || name.rfind("conv_after", 0) == 0 ||
                          name.rfind("upsample.conv", 0) == 0 ||
                          (name.rfind("groups.", 0) == 0 && name.find(".conv.") != std::string::npos &&
                           name.find("blocks") == std::string::npos);
        const bool weight = name.size() > 7 && name.compare(name.size() - 7, 7, ".weight") == 0;
        const bool f16_bias = has("attn.qkvg") || has("ffn.fc1") ||
                              (mode == Mode::F16Residual && (has("attn.proj") || has("ffn.fc2")));
        if ((gemm || conv) && weight) round_all(t.data);
        if (gemm && !weight && f16_bias) round_all(t.data);
        // run 6: conv_first's im2col GEMM writes float16 with the float16 copy of its bias, and so do the group
        // convs and conv_after where C takes the im2col path (C not a multiple of 16)
        const bool im2col = name == "conv_first.bias" ||
                            (m.config().channels % 16 != 0 && conv && !weight && name.rfind("upsample", 0) != 0);
        if (mode == Mode::F16Residual && im2col) round_all(t.data);
    }
    return out;
}

constexpr float kEps = 1e-5f;

Vec forward(const Model& model, Mode mode, const Vec& rgb, int H, int W) {
    const cpu::NetworkWeights w(model);
    const ModelConfig& c = w.config();
    const std::size_t N = std::size_t(H) * W;
    const int C = c.channels, R = c.ffn_ratio * C, s = c.scale;
    const bool gpu = mode != Mode::F32, res16 = mode == Mode::F16Residual;
    const auto act = [&](Vec& v) {  // a float16 activation of both GPU designs
        if (gpu) round_all(v);
    };
    const auto res = [&](Vec& v) {  // a residual write (float16 in run 6 only)
        if (res16) round_all(v);
    };
    const auto conv_in = [&](const Vec& x) {  // the implicit conv / im2col stage their input as float16
        Vec r = x;
        act(r);
        return r;
    };

    Vec x0(N * 3);
    for (std::size_t i = 0; i < x0.size(); ++i) x0[i] = rgb[i] - 0.5f;
    Vec feat(N * C);
    cpu::conv3x3(conv_in(x0).data(), H, W, 3, w.conv_first.w, w.conv_first.b, C, feat.data());
    res(feat);
    Vec y = feat;  // run 5: float32 cur; run 6: float16 G

    for (int g = 0; g < c.groups; ++g) {
        Vec group_in = y;
        act(group_in);  // Buf::Group16 (run 5) / G (run 6, already float16)
        Vec z = y;
        for (int b = 0; b < c.blocks; ++b) {
            const cpu::BlockWeights& bw = w.blocks[std::size_t(g)][std::size_t(b)];
            // cpe1 + residual + norm1 (LayerNorm from the unrounded sum)
            Vec z1(N * C), u(N * C);
            cpu::dwconv(z.data(), H, W, C, 3, bw.cpe1.w, bw.cpe1.b, z1.data(), true);
            cpu::layernorm(z1.data(), N, C, bw.norm1.w, bw.norm1.b, kEps, u.data());
            res(z1);
            act(u);
            Vec qkvg(N * 4 * C);
            cpu::linear(u.data(), N, C, C, bw.qkvg.w, bw.qkvg.b, 4 * C, qkvg.data());
            act(qkvg);
            Vec v(N * C), lepe(N * C), o(N * C);
            const bool pola = c.attention == AttentionKind::Pola;
            cpu::gather_channels(qkvg.data() + 2 * C, N, 4 * C, C, v.data());
            if (pola) cpu::dwconv_shared(v.data(), H, W, C, c.head_dim(), 5, bw.lepe.w, bw.lepe.b, lepe.data());
            else cpu::dwconv(v.data(), H, W, C, 5, bw.lepe.w, bw.lepe.b, lepe.data());
            switch (c.attention) {
                case AttentionKind::Nala: cpu::nala_attention(qkvg.data(), H, W, C, c.heads, o.data()); break;
                case AttentionKind::Softmax: cpu::softmax_attention(qkvg.data(), H, W, C, c.heads, o.data()); break;
                case AttentionKind::Pola: {  // k + kpos(k), /σ in float32 inside the GPU kernel
                    Vec adjusted = qkvg, k(N * C), k_biased(N * C);
                    cpu::gather_channels(qkvg.data() + C, N, 4 * C, C, k.data());
                    cpu::dwconv(k.data(), H, W, C, 3, bw.kpos.w, bw.kpos.b, k_biased.data(), true);
                    cpu::pola_scale_qk(adjusted.data(), N, C, k_biased.data(), bw.sigma.data());
                    cpu::pola_attention(adjusted.data(), H, W, C, c.heads, bw.power, o.data());
                    break;
                }
            }
            act(o);  // the core writes o over q in float16
            cpu::add_inplace(o.data(), lepe.data(), N * C);
            if (!pola) cpu::layernorm(o.data(), N, C, bw.attn_norm.w, bw.attn_norm.b, kEps, o.data());
            cpu::gate_inplace(o.data(), N, C, qkvg.data() + 3 * C, 4 * C, !pola);
            act(o);  // the tail writes u over k in float16
            Vec a(N * C);
            cpu::linear(o.data(), N, C, C, bw.proj.w, bw.proj.b, C, a.data());
            cpu::add_inplace(z1.data(), a.data(), N * C);
            res(z1);
            // cpe2 + residual + norm2, FFN
            Vec z2(N * C), u2(N * C);
            cpu::dwconv(z1.data(), H, W, C, 3, bw.cpe2.w, bw.cpe2.b, z2.data(), true);
            cpu::layernorm(z2.data(), N, C, bw.norm2.w, bw.norm2.b, kEps, u2.data());
            res(z2);
            act(u2);
            Vec t(N * R), t2(N * R), f(N * C);
            cpu::linear(u2.data(), N, C, C, bw.fc1.w, bw.fc1.b, R, t.data());
            act(t);
            cpu::gelu_inplace(t.data(), N * R);
            cpu::dwconv(t.data(), H, W, R, 3, bw.ffn_dwconv.w, bw.ffn_dwconv.b, t2.data(), true);
            act(t2);
            cpu::linear(t2.data(), N, R, R, bw.fc2.w, bw.fc2.b, C, f.data());
            cpu::add_inplace(z2.data(), f.data(), N * C);
            res(z2);
            z = std::move(z2);
        }
        Vec conv(N * C);
        cpu::conv3x3(conv_in(z).data(), H, W, C, w.group_conv[std::size_t(g)].w, w.group_conv[std::size_t(g)].b, C,
                     conv.data());
        y = group_in;
        cpu::add_inplace(y.data(), conv.data(), N * C);
        res(y);
    }
    Vec after(N * C);
    cpu::conv3x3(conv_in(y).data(), H, W, C, w.conv_after.w, w.conv_after.b, C, after.data());
    cpu::add_inplace(after.data(), feat.data(), N * C);  // feat: float32 (run 5) / float16 (run 6)
    res(after);
    Vec up(N * 3 * s * s), out(N * 3 * s * s);
    cpu::conv3x3(conv_in(after).data(), H, W, C, w.upsample.w, w.upsample.b, 3 * s * s, up.data());
    cpu::pixel_shuffle(up.data(), H, W, 3, s, out.data());
    for (float& x : out) x += 0.5f;
    return out;
}

double psnr_8bit(const Vec& a, const Vec& b) {
    double se = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        const auto q = [](float v) { return std::lround(std::clamp(double(v), 0.0, 1.0) * 255.0); };
        const double d = double(q(a[i]) - q(b[i]));
        se += d * d;
    }
    const double mse = se / double(a.size());
    return mse == 0 ? 99.0 : 10.0 * std::log10(255.0 * 255.0 / mse);
}

double nmse(const Vec& got, const Vec& want) {
    double e = 0, r = 0;
    for (std::size_t i = 0; i < want.size(); ++i) {
        const double d = double(got[i]) - want[i];
        e += d * d, r += double(want[i]) * want[i];
    }
    return e / r;
}

void compare(const std::string& name, const Model& model, const Vec& rgb, int H, int W) {
    const Vec ref = forward(model, Mode::F32, rgb, H, W);
    const Vec run5 = forward(gpu_weights(model, Mode::Run5), Mode::Run5, rgb, H, W);
    const Vec f16 = forward(gpu_weights(model, Mode::F16Residual), Mode::F16Residual, rgb, H, W);
    float lo = 1e30f, hi = -1e30f;
    for (float x : f16) lo = std::min(lo, x), hi = std::max(hi, x);
    std::printf("%-44s %4dx%-4d run5: PSNR %6.2f dB NMSE %.2e | f16 residual: PSNR %6.2f dB NMSE %.2e "
                "(vs run5 %.2f dB) range [%.3f, %.3f]\n",
                name.c_str(), W, H, psnr_8bit(run5, ref), nmse(run5, ref), psnr_8bit(f16, ref), nmse(f16, ref),
                psnr_8bit(f16, run5), lo, hi);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {  // the cases of tests/cuda/test_cuda_backend.cpp, CudaForward (model seed 42, image seed 7)
        struct Case {
            AttentionKind kind;
            int C, heads, groups, blocks, scale, width, height;
        };
        const Case cases[] = {{AttentionKind::Nala, 64, 4, 4, 4, 4, 37, 29},   {AttentionKind::Pola, 64, 4, 4, 4, 4, 37, 29},
                              {AttentionKind::Softmax, 64, 4, 4, 4, 4, 37, 29}, {AttentionKind::Nala, 16, 4, 1, 2, 3, 13, 7},
                              {AttentionKind::Nala, 32, 1, 2, 1, 2, 63, 1},     {AttentionKind::Pola, 48, 2, 1, 1, 2, 1, 40},
                              {AttentionKind::Nala, 24, 2, 1, 1, 2, 19, 11}};
        for (const Case& k : cases) {
            ModelConfig cfg;
            cfg.attention = k.kind, cfg.channels = k.C, cfg.heads = k.heads, cfg.groups = k.groups;
            cfg.blocks = k.blocks, cfg.scale = k.scale;
            const std::string name = std::string("random ") + attention_kind_name(k.kind) + " C" +
                                     std::to_string(k.C) + " G" + std::to_string(k.groups) + " B" +
                                     std::to_string(k.blocks) + " s" + std::to_string(k.scale);
            compare(name, Model::random(cfg, 42),
                    test::random_floats(std::size_t(k.width) * k.height * 3, 7, 0.0f, 1.0f), k.height, k.width);
        }
        return 0;
    }
    Model model;
    if (Status st = Model::load_file(argv[1], &model); !st.is_ok()) {
        std::fprintf(stderr, "%s\n", st.message().c_str());
        return 1;
    }
    for (int i = 2; i < argc; ++i) {
        cv::Mat bgr = cv::imread(argv[i], cv::IMREAD_COLOR);
        if (bgr.empty()) return 1;
        cv::Mat rgb;
        cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
        Vec img(std::size_t(rgb.rows) * rgb.cols * 3);
        for (int y = 0; y < rgb.rows; ++y)
            for (int x = 0; x < rgb.cols * 3; ++x) img[std::size_t(y) * rgb.cols * 3 + x] = rgb.at<cv::Vec3b>(y, x / 3)[x % 3] / 255.0f;
        compare(argv[i], model, img, rgb.rows, rgb.cols);
    }
    return 0;
}
