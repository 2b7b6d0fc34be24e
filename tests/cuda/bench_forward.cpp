// Benchmark of the CUDA forward pass: median network time over repeats after warm-up (CUDA events inside the
// backend), peak device memory (planned and observed), and the time as a multiple of the roofline floor
// (docs/cuda_notes.md). A second table times each op family once over the whole image, to show where the
// time goes. Random weights, default config (C=64, h=4, G=4, B=4, ×4) unless told otherwise.
//
//   nalasr_cuda_bench [--repeats N] [--warmup N] [--kinds nala,pola] [--no-ops] [WxH ...]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "attention_tail.cuh"
#include "backend.h"
#include "conv3x3.cuh"
#include "convert.cuh"
#include "cuda/cuda_context.h"
#include "cuda/cuda_gemm.h"
#include "cuda/cuda_network.h"
#include "cuda/cuda_plan.h"
#include "cuda/cuda_weights.h"
#include "dwconv.cuh"
#include "linear_attention.cuh"
#include "nalasr/model.h"

namespace {

using namespace nalasr;

// Ceilings measured on the lent H100 (docs/cuda_notes.md): dense float16/bf16 GEMM and device copy bandwidth.
constexpr double kTensorFlops = 790e12;
constexpr double kBandwidth = 3.0e12;
constexpr double kMiB = 1 << 20;
constexpr int kMaxChunkTried = 32768;  // largest im2col chunk the op table tries

struct Size {
    int w, h;
};

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[v.size() / 2];
}

// FLOPs of one forward pass (multiply-add = 2), docs/cuda_notes.md.
double network_flops(const ModelConfig& c, double N) {
    const double C = c.channels, d = c.head_dim(), h = c.heads, r = c.ffn_ratio, s2 = double(c.scale) * c.scale;
    const double attention = c.attention == AttentionKind::Softmax ? 4.0 * N * d * h  // ×N below: N² terms
                                                                   : 2.0 * 2 * (2 * d * d) * h;
    const double block = 2 * 9 * C + 2 * C * 4 * C + (c.attention == AttentionKind::Softmax ? attention * N : attention) +
                         2 * 25 * C + 2 * C * C + 2 * 9 * C + 2 * C * r * C + 2 * 9 * r * C + 2 * r * C * C;
    const double convs = 2 * 27 * C + (c.groups + 1) * 2 * 9 * C * C + 2 * 9 * C * 3 * s2;
    return N * (c.groups * c.blocks * block + convs);
}

// Fewest bytes any implementation must move: the input and output images and the weights (float16).
double min_bytes(const Model& m, double N) {
    return N * 3 * 4 + N * m.config().scale * m.config().scale * 3 * 4 + 2.0 * double(m.parameter_count());
}

void bench_forward(const Model& model, const std::vector<Size>& sizes, int warmup, int repeats) {
    std::unique_ptr<Backend> gpu;
    if (Status st = create_cuda_backend(model, 0, &gpu); !st) {
        std::printf("cuda backend: %s\n", st.message().c_str());
        return;
    }
    for (const Size& s : sizes) {
        const double N = double(s.w) * s.h;
        std::vector<float> img(std::size_t(N) * 3), out;
        for (std::size_t i = 0; i < img.size(); ++i) img[i] = float((i * 2654435761u) % 1000) / 1000.0f;
        std::vector<double> network, total;
        ForwardStats last;
        bool ok = true;
        for (int i = 0; i < warmup + repeats && ok; ++i) {
            ForwardStats stats;
            const Status st = gpu->forward(img.data(), s.w, s.h, &out, {}, &stats);
            if (!st) {
                std::printf("%s %dx%d: %s\n", attention_kind_name(model.config().attention), s.w, s.h,
                            st.message().c_str());
                ok = false;
                break;
            }
            if (i < warmup) continue;
            double sum = 0, net = 0;
            for (const StageTime& t : stats.stages) sum += t.ms, net += t.stage == "network" ? t.ms : 0.0;
            network.push_back(net);
            total.push_back(sum);
            last = stats;
        }
        if (!ok) continue;
        const double flops = network_flops(model.config(), N);
        const double floor_ms = 1e3 * std::max(flops / kTensorFlops, min_bytes(model, N) / kBandwidth);
        const double med = median(network);
        std::printf("%-8s %5dx%-5d network %8.3f ms (min %8.3f)  with transfers %8.3f ms  planned %8.1f MiB  "
                    "observed %8.1f MiB  %.2f TFLOP  floor %.3f ms  x%.1f\n",
                    attention_kind_name(model.config().attention), s.w, s.h, med,
                    *std::min_element(network.begin(), network.end()), median(total),
                    double(last.planned_peak_bytes) / kMiB, double(last.observed_peak_bytes) / kMiB, flops / 1e12,
                    floor_ms, med / floor_ms);
    }
}

// Times `fn` (enqueueing on the context's stream) with events: median of `repeats` after one warm-up.
template <typename Fn>
double time_op(cuda::CudaContext& ctx, int repeats, Fn fn) {
    cudaEvent_t a, b;
    cudaEventCreate(&a);
    cudaEventCreate(&b);
    fn();
    std::vector<double> ms;
    for (int i = 0; i < repeats; ++i) {
        cudaEventRecord(a, ctx.stream());
        fn();
        cudaEventRecord(b, ctx.stream());
        cudaEventSynchronize(b);
        float t = 0;
        cudaEventElapsedTime(&t, a, b);
        ms.push_back(t);
    }
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    return median(ms);
}

// One pass of each op family over a w×h image, on random data (never zeros).
void bench_ops(const Model& model, Size s, int repeats) {
    const ModelConfig& c = model.config();
    cuda::CudaContext ctx(0);
    cuda::NetworkWeights w;
    if (!ctx.activate() || !cuda::upload_weights(model, &w)) return;
    const cuda::ForwardPlan plan = cuda::plan_forward(c, s.w, s.h);
    const std::int64_t N = plan.tokens;
    const int C = c.channels, ld = plan.work_ld, hidden = c.ffn_ratio * C;
    cuda::DeviceBuffer x, y, normed, work, cols, scratch, rope;
    if (!x.allocate(N * C * 2) || !y.allocate(N * C * 2) || !normed.allocate(N * C * 2) ||
        !work.allocate(N * ld * 2) || !cols.allocate(std::size_t(kMaxChunkTried) * w.group_convs[0].k_pad * 2) ||
        !scratch.allocate(kernels::linear_attention_scratch_floats(N, C, c.heads) * 4))
        return;
    const std::vector<float> table = cuda::rope_table(s.h, s.w, c.head_dim());
    if (!rope.allocate(table.size() * 4)) return;
    cudaMemcpy(rope.data(), table.data(), table.size() * 4, cudaMemcpyHostToDevice);
    // Random-ish non-zero contents everywhere (half of 0x3c00 patterns are ordinary numbers near ±1).
    std::vector<std::uint16_t> h16(std::size_t(N) * ld);
    for (std::size_t i = 0; i < h16.size(); ++i) h16[i] = std::uint16_t(0x3000 + (i * 40503u) % 0x0c00) | (i % 3 ? 0 : 0x8000);
    cudaMemcpy(work.data(), h16.data(), h16.size() * 2, cudaMemcpyHostToDevice);
    cudaMemcpy(normed.data(), h16.data(), std::size_t(N) * C * 2, cudaMemcpyHostToDevice);
    // The float16 residual stream (x, y): the same patterns.
    cudaMemcpy(x.data(), h16.data(), std::size_t(N) * C * 2, cudaMemcpyHostToDevice);
    cudaMemcpy(y.data(), h16.data(), std::size_t(N) * C * 2, cudaMemcpyHostToDevice);

    auto* xh = reinterpret_cast<__half*>(x.data());
    auto* yh = reinterpret_cast<__half*>(y.data());
    auto* nh = reinterpret_cast<__half*>(normed.data());
    auto* wh = reinterpret_cast<__half*>(work.data());
    const cuda::BlockWeights& b = w.blocks[0];
    cudaStream_t st = ctx.stream();
    const double nC2 = double(N) * C * 2;  // bytes of one float16 (N, C) map
    struct Row {
        const char* op;
        double ms, bytes;
    };
    std::vector<Row> rows;
    // The network's path (the implicit-GEMM kernel for Cin a multiple of 16), then the im2col + cuBLASLt path it
    // replaced, by chunks of the plan's size, for comparison on the same card.
    const cuda::Conv3x3Weights& gc = w.group_convs[0];
    auto im2col_conv = [&](int chunk) {
        for (std::int64_t t0 = 0; t0 < N; t0 += chunk) {
            const int count = int(std::min<std::int64_t>(chunk, N - t0));
            auto* columns = reinterpret_cast<__half*>(cols.data());
            kernels::im2col3x3(xh, s.h, s.w, gc.cin, 0.0f, t0, count, gc.k_pad, columns, st);
            cuda::GemmArgs g;
            g.m = gc.cout_pad, g.n = count, g.k = gc.k_pad;
            g.w = gc.w, g.x = columns, g.ldx = gc.k_pad;
            g.y = yh + t0 * C, g.ldy = C, g.out = cuda::GemmOutput::F16;
            g.bias = gc.bias16, g.accumulate = true;
            cuda::gemm(ctx, g);
        }
    };
    rows.push_back({kernels::conv3x3_implicit_supported(C) ? "conv3x3 C->C (implicit GEMM, +residual)"
                                                           : "conv3x3 C->C (im2col+GEMM, +residual)",
                    time_op(ctx, repeats, [&] { cuda::conv3x3(ctx, gc, xh, s.h, s.w, 0, yh, C, true,
                                                              reinterpret_cast<__half*>(cols.data()), plan.chunk_tokens); }),
                    nC2 * 3});  // float16 in, residual read, out written
    rows.push_back({"conv3x3 C->C im2col+GEMM (baseline, +res)",
                    time_op(ctx, repeats, [&] { im2col_conv(std::max(plan.chunk_tokens, 1)); }),
                    nC2 * 3});
    if (kernels::conv3x3_implicit_supported(C)) {
        const cuda::Conv3x3Weights& up = w.upsample;
        const int sc = c.scale;
        cuda::DeviceBuffer image;
        if (image.allocate(std::size_t(N) * sc * sc * 3 * 4))
            rows.push_back({"upsample conv + PixelShuffle (implicit)",
                            time_op(ctx, repeats, [&] {
                                kernels::conv3x3_implicit_shuffle(xh, s.h, s.w, up.cin, up.w, up.k_pad, up.bias,
                                                                  up.cout_pad, sc, reinterpret_cast<float*>(image.data()), st);
                            }),
                            nC2 + double(N) * sc * sc * 3 * 4});
    }
    rows.push_back({"cpe + residual + LayerNorm",
                    time_op(ctx, repeats, [&] { kernels::cpe_residual_layernorm(xh, s.h, s.w, C, b.cpe1.w, b.cpe1.bias,
                                                                                b.norm1.gamma, b.norm1.beta, 1e-5f, yh,
                                                                                nh, C, st); }),
                    nC2 * 3});  // residual in and out, normed out: all float16
    rows.push_back({"linear qkvg C->4C (f16 out)",
                    time_op(ctx, repeats, [&] { cuda::linear(ctx, b.qkvg, nh, C, N, wh, ld, cuda::GemmOutput::F16, false); }),
                    nC2 * 5});
    const kernels::LinearAttentionShape shape{s.h, s.w, C, c.heads, ld};
    const auto* rr = reinterpret_cast<const float2*>(rope.data());
    rows.push_back({"NaLa core (pass 1 + reduce + pass 2)",
                    time_op(ctx, repeats, [&] { kernels::nala_attention(wh, shape, rr, rr + std::size_t(s.h) * (c.head_dim() / 4),
                                                                        reinterpret_cast<float*>(scratch.data()), st); }),
                    nC2 * 4});
    rows.push_back({"attention tail (lepe+LN+gate)",
                    time_op(ctx, repeats, [&] { kernels::nala_attention_tail(wh, ld, s.h, s.w, C, b.lepe.w, b.lepe.bias,
                                                                             b.attn_norm.gamma, b.attn_norm.beta, 1e-5f, st); }),
                    nC2 * 4});
    rows.push_back({"linear proj C->C (+residual, f16 out)",
                    time_op(ctx, repeats, [&] { cuda::linear(ctx, b.proj, wh + C, ld, N, yh, C, cuda::GemmOutput::F16, true); }),
                    nC2 * 3});
    rows.push_back({"linear fc1 C->rC (f16 out)",
                    time_op(ctx, repeats, [&] { cuda::linear(ctx, b.fc1, nh, C, N, wh, ld, cuda::GemmOutput::F16, false); }),
                    nC2 * (1 + c.ffn_ratio)});
    rows.push_back({"FFN GELU + dwconv",
                    time_op(ctx, repeats, [&] { kernels::ffn_gelu_dwconv(wh, ld, s.h, s.w, hidden, b.ffn_dwconv.w,
                                                                         b.ffn_dwconv.bias, wh + hidden, ld, st); }),
                    nC2 * 2 * c.ffn_ratio});
    rows.push_back({"linear fc2 rC->C (+residual, f16 out)",
                    time_op(ctx, repeats, [&] { cuda::linear(ctx, b.fc2, wh + hidden, ld, N, yh, C, cuda::GemmOutput::F16, true); }),
                    nC2 * c.ffn_ratio + nC2 * 2});
    std::printf("\nops at %dx%d (one call each; a block runs cpe+LN twice and every other row once):\n", s.w, s.h);
    for (const Row& r : rows)
        std::printf("  %-42s %8.3f ms  %7.0f GB/s (of the bytes it must move)\n", r.op, r.ms, r.bytes / (r.ms * 1e6));
    // The im2col chunk size traded L2 residency of the rows against GEMM size (the plan uses 16384 tokens).
    std::printf("conv3x3 C->C by im2col chunk (baseline path; plan: %d tokens):", plan.chunk_tokens);
    for (int chunk = 4096; chunk <= kMaxChunkTried; chunk *= 2)
        std::printf("  %d: %.3f ms", chunk, time_op(ctx, repeats, [&] { im2col_conv(chunk); }));
    std::printf("\n");
    if (cudaError_t e = cudaGetLastError(); e != cudaSuccess) std::printf("  CUDA error: %s\n", cudaGetErrorString(e));
}

}  // namespace

int main(int argc, char** argv) {
    int warmup = 3, repeats = 20;
    bool ops = true;
    std::vector<std::string> kinds{"nala", "pola"};
    std::vector<Size> sizes;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--repeats" && i + 1 < argc) repeats = std::atoi(argv[++i]);
        else if (a == "--warmup" && i + 1 < argc) warmup = std::atoi(argv[++i]);
        else if (a == "--no-ops") ops = false;
        else if (a == "--kinds" && i + 1 < argc) {
            kinds.clear();
            std::string list = argv[++i];
            for (std::size_t p = 0; p != std::string::npos;) {
                const std::size_t q = list.find(',', p);
                kinds.push_back(list.substr(p, q == std::string::npos ? q : q - p));
                p = q == std::string::npos ? q : q + 1;
            }
        } else if (Size s{}; std::sscanf(a.c_str(), "%dx%d", &s.w, &s.h) == 2) sizes.push_back(s);
        else {
            std::fprintf(stderr, "usage: %s [--repeats N] [--warmup N] [--kinds nala,pola,softmax] [--no-ops] [WxH ...]\n",
                         argv[0]);
            return 2;
        }
    }
    if (sizes.empty()) sizes = {{265, 265}, {960, 540}};
    const std::vector<GpuInfo> gpus = list_gpus();
    if (gpus.empty()) {
        std::printf("no CUDA GPU\n");
        return 1;
    }
    std::printf("device: %s, %.1f GiB; %d warm-up + %d timed runs, median\n", gpus[0].name.c_str(),
                double(gpus[0].total_bytes) / (1 << 30), warmup, repeats);
    for (const std::string& k : kinds) {
        ModelConfig cfg;
        if (!parse_attention_kind(k, &cfg.attention)) continue;
        bench_forward(Model::random(cfg, 1), sizes, warmup, repeats);
    }
    if (ops) bench_ops(Model::random(ModelConfig{}, 1), sizes.back(), repeats);
    return 0;
}
