// The CUDA backend end to end: forward against the CPU backend on random models (PSNR of the 8-bit outputs),
// determinism, the memory planner's figures and refusals, cancellation, bad arguments. Without a GPU only the
// planner tests and the "no GPU" test run; the rest skip.
#include <cmath>
#include <cstring>

#include "backend.h"
#include "cuda/cuda_context.h"
#include "cuda/cuda_plan.h"
#include "cuda_test_util.h"
#include "nalasr/model.h"

namespace nalasr::test {
namespace {

constexpr std::size_t kMiB = std::size_t(1) << 20;

ModelConfig config(AttentionKind kind, int C = 64, int heads = 4, int groups = 4, int blocks = 4, int scale = 4) {
    ModelConfig c;
    c.channels = C, c.heads = heads, c.groups = groups, c.blocks = blocks, c.scale = scale, c.attention = kind;
    return c;
}

struct E2ECase {
    ModelConfig cfg;
    int width, height;
    std::string name() const {
        return std::string(attention_kind_name(cfg.attention)) + "_C" + std::to_string(cfg.channels) + "_h" +
               std::to_string(cfg.heads) + "_G" + std::to_string(cfg.groups) + "_B" + std::to_string(cfg.blocks) +
               "_s" + std::to_string(cfg.scale) + "_" + std::to_string(width) + "x" + std::to_string(height);
    }
};

class CudaForward : public ::testing::TestWithParam<E2ECase> {};

TEST_P(CudaForward, MatchesCpuBackend) {
    NALASR_SKIP_WITHOUT_GPU();
    const E2ECase& c = GetParam();
    const Model model = Model::random(c.cfg, 42);
    std::unique_ptr<Backend> gpu, cpu;
    Status st = create_cuda_backend(model, 0, &gpu);
    ASSERT_TRUE(st.is_ok()) << st.message();
    ASSERT_TRUE(create_cpu_backend(model, 0, &cpu).is_ok());

    const std::vector<float> img = random_floats(std::size_t(c.width) * c.height * 3, 7, 0.0f, 1.0f);
    std::vector<float> got, want;
    ForwardStats stats;
    st = gpu->forward(img.data(), c.width, c.height, &got, {}, &stats);
    ASSERT_TRUE(st.is_ok()) << st.message();
    ASSERT_TRUE(cpu->forward(img.data(), c.width, c.height, &want, {}, nullptr).is_ok());
    ASSERT_EQ(got.size(), want.size());
    ASSERT_TRUE(all_finite(got));

    const double psnr = psnr_8bit(got, want);
    const double err = nmse(got, want);
    std::printf("  [e2e] %-44s PSNR(8-bit) %.2f dB, float NMSE %.3e, planned %.2f MiB, observed %.2f MiB\n",
                c.name().c_str(), psnr, err, double(stats.planned_peak_bytes) / kMiB,
                double(stats.observed_peak_bytes) / kMiB);
    EXPECT_GE(psnr, kMinPsnr8Bit);
    EXPECT_EQ(stats.planned_peak_bytes, gpu->predict_peak_bytes(c.width, c.height));

    // Same input, same arena: bit-identical output (the attention reductions have a fixed order).
    std::vector<float> again;
    ASSERT_TRUE(gpu->forward(img.data(), c.width, c.height, &again, {}, nullptr).is_ok());
    EXPECT_EQ(0, std::memcmp(again.data(), got.data(), got.size() * sizeof(float)));
}

INSTANTIATE_TEST_SUITE_P(
    Models, CudaForward,
    ::testing::Values(E2ECase{config(AttentionKind::Nala), 37, 29}, E2ECase{config(AttentionKind::Pola), 37, 29},
                      E2ECase{config(AttentionKind::Softmax), 37, 29},
                      E2ECase{config(AttentionKind::Nala, 16, 4, 1, 2, 3), 13, 7},   // d = 4, 27 output channels
                      E2ECase{config(AttentionKind::Nala, 32, 1, 2, 1, 2), 63, 1},   // d = 32, one row
                      E2ECase{config(AttentionKind::Pola, 48, 2, 1, 1, 2), 1, 40},   // d = 24, one column
                      // C = 24: not a multiple of 16, so every 3×3 conv takes the im2col + GEMM path
                      E2ECase{config(AttentionKind::Nala, 24, 2, 1, 1, 2), 19, 11}),
    [](const ::testing::TestParamInfo<E2ECase>& info) { return info.param.name(); });

TEST(CudaBackend, ArenaIsReusedAndResizedAcrossSizes) {
    NALASR_SKIP_WITHOUT_GPU();
    const Model model = Model::random(config(AttentionKind::Nala, 32, 4, 1, 1, 2), 3);
    std::unique_ptr<Backend> gpu, cpu;
    ASSERT_TRUE(create_cuda_backend(model, 0, &gpu).is_ok());
    ASSERT_TRUE(create_cpu_backend(model, 0, &cpu).is_ok());
    for (auto [w, h] : {std::pair{31, 17}, std::pair{9, 40}, std::pair{31, 17}}) {
        const std::vector<float> img = random_floats(std::size_t(w) * h * 3, std::uint64_t(w * h), 0.0f, 1.0f);
        std::vector<float> got, want;
        ASSERT_TRUE(gpu->forward(img.data(), w, h, &got, {}, nullptr).is_ok());
        ASSERT_TRUE(cpu->forward(img.data(), w, h, &want, {}, nullptr).is_ok());
        EXPECT_GE(psnr_8bit(got, want), kMinPsnr8Bit) << w << "x" << h;
    }
}

// The planner's peak against device memory actually taken (cudaMemGetInfo), within 5 %, for every attention kind.
// Sizes large enough that the driver's 2 MiB allocation granularity is small against the plan.
TEST(CudaBackend, ObservedPeakMatchesThePlanWithin5Percent) {
    NALASR_SKIP_WITHOUT_GPU();
    for (AttentionKind kind : {AttentionKind::Nala, AttentionKind::Pola, AttentionKind::Softmax}) {
        const Model model = Model::random(config(kind), 11);
        std::unique_ptr<Backend> gpu;
        ASSERT_TRUE(create_cuda_backend(model, 0, &gpu).is_ok());
        // softmax: 96² → 324 MiB of scores; the linear kinds at 300² (101.8 MiB planned since the float16 residual
        // of run 6; at 265² the 81 MiB plan put the ≈ 3.4 MiB the driver adds at 4.2 % of the bound's 5)
        const int side = kind == AttentionKind::Softmax ? 96 : 300;
        const std::vector<float> img = random_floats(std::size_t(side) * side * 3, 17, 0.0f, 1.0f);
        std::vector<float> out;
        ForwardStats stats;
        ASSERT_TRUE(gpu->forward(img.data(), side, side, &out, {}, &stats).is_ok());
        const double planned = double(stats.planned_peak_bytes), observed = double(stats.observed_peak_bytes);
        std::printf("  [peak] %-7s %dx%d planned %.2f MiB, observed %.2f MiB (%+.2f %%)\n", attention_kind_name(kind),
                    side, side, planned / kMiB, observed / kMiB, 100.0 * (observed / planned - 1.0));
        EXPECT_EQ(stats.planned_peak_bytes, gpu->predict_peak_bytes(side, side));
        EXPECT_NEAR(observed, planned, 0.05 * planned) << attention_kind_name(kind);
    }
}

TEST(CudaBackend, RefusesWhatDoesNotFitWithTheLargestSquare) {
    NALASR_SKIP_WITHOUT_GPU();
    const Model model = Model::random(config(AttentionKind::Softmax, 16, 4, 1, 1, 2), 5);
    std::unique_ptr<Backend> gpu;
    ASSERT_TRUE(create_cuda_backend(model, 0, &gpu).is_ok());
    // 4096² tokens of softmax attention need 1 PB of scores: refused before anything is read or allocated.
    const std::vector<float> tiny(3, 0.5f);
    std::vector<float> out;
    const Status st = gpu->forward(tiny.data(), 4096, 4096, &out, {}, nullptr);
    std::printf("  [oom] %s\n", st.message().c_str());
    EXPECT_EQ(st.code(), StatusCode::OutOfMemory);
    EXPECT_NE(st.message().find("largest square input that fits is about"), std::string::npos);
    const int side = largest_square_that_fits(*gpu, gpu->available_bytes());
    EXPECT_GT(side, 0);
    EXPECT_LE(gpu->predict_peak_bytes(side, side), gpu->available_bytes());
    // And the backend still works afterwards.
    const std::vector<float> img = random_floats(8 * 8 * 3, 1, 0.0f, 1.0f);
    EXPECT_TRUE(gpu->forward(img.data(), 8, 8, &out, {}, nullptr).is_ok());
}

TEST(CudaBackend, CancelStopsBetweenBlocksAndReportsProgress) {
    NALASR_SKIP_WITHOUT_GPU();
    const Model model = Model::random(config(AttentionKind::Nala, 32, 4, 2, 2, 2), 9);
    std::unique_ptr<Backend> gpu;
    ASSERT_TRUE(create_cuda_backend(model, 0, &gpu).is_ok());
    const std::vector<float> img = random_floats(20 * 20 * 3, 2, 0.0f, 1.0f);
    std::vector<double> fractions;
    ForwardControl control;
    control.report = [&](double f) { fractions.push_back(f); };
    control.cancelled = [&] { return fractions.size() >= 2; };
    std::vector<float> out;
    EXPECT_EQ(gpu->forward(img.data(), 20, 20, &out, control, nullptr).code(), StatusCode::Cancelled);
    EXPECT_EQ(fractions.size(), 2u);
    control.cancelled = nullptr;
    fractions.clear();
    EXPECT_TRUE(gpu->forward(img.data(), 20, 20, &out, control, nullptr).is_ok());
    ASSERT_EQ(fractions.size(), 4u);
    EXPECT_DOUBLE_EQ(fractions.back(), 1.0);
}

TEST(CudaBackend, BadArgumentsAreStatusErrors) {
    NALASR_SKIP_WITHOUT_GPU();
    const Model model = Model::random(config(AttentionKind::Nala, 16, 4, 1, 1, 2), 4);
    std::unique_ptr<Backend> gpu;
    EXPECT_EQ(create_cuda_backend(model, 99, &gpu).code(), StatusCode::InvalidArgument);
    EXPECT_EQ(create_cuda_backend(model, -1, &gpu).code(), StatusCode::InvalidArgument);
    ASSERT_TRUE(create_cuda_backend(model, 0, &gpu).is_ok());
    std::vector<float> out;
    const std::vector<float> img(12, 0.5f);
    EXPECT_EQ(gpu->forward(img.data(), 0, 4, &out, {}, nullptr).code(), StatusCode::InvalidArgument);
    EXPECT_EQ(gpu->forward(nullptr, 2, 2, &out, {}, nullptr).code(), StatusCode::InvalidArgument);
    // A head width the fused kernels do not take is refused at creation, with the reason.
    const Model wide = Model::random(config(AttentionKind::Nala, 64, 1, 1, 1, 2), 4);
    const Status st = create_cuda_backend(wide, 0, &gpu);
    EXPECT_EQ(st.code(), StatusCode::BackendUnavailable);
    EXPECT_NE(st.message().find("head width"), std::string::npos);
}

TEST(CudaBackend, ListsTheGpu) {
    NALASR_SKIP_WITHOUT_GPU();
    const std::vector<GpuInfo> gpus = list_gpus();
    ASSERT_FALSE(gpus.empty());
    EXPECT_FALSE(gpus[0].name.empty());
    EXPECT_GT(gpus[0].total_bytes, 0u);
    EXPECT_TRUE(cuda_compiled());
}

// What CI sees: no GPU, a clean refusal.
TEST(CudaBackend, WithoutGpuCreationIsUnavailable) {
    if (gpu_available()) GTEST_SKIP() << "a GPU is present";
    std::unique_ptr<Backend> gpu;
    const Status st = create_cuda_backend(Model::random(config(AttentionKind::Nala, 16, 4, 1, 1, 2), 1), 0, &gpu);
    EXPECT_EQ(st.code(), StatusCode::BackendUnavailable);
    EXPECT_TRUE(list_gpus().empty());
}

// The planner needs no GPU: the memory targets for the default network.
TEST(CudaPlan, DefaultNetworkMeetsTheMemoryTargets) {
    const ModelConfig c = config(AttentionKind::Nala);
    const std::size_t hd = cuda::plan_forward(c, 960, 540).arena_bytes() + cuda::CudaContext::kWorkspaceBytes;
    const std::size_t small = cuda::plan_forward(c, 265, 265).arena_bytes() + cuda::CudaContext::kWorkspaceBytes;
    std::printf("  [plan] 960x540: %.1f MiB, 265x265: %.1f MiB (weights not included)\n", double(hd) / kMiB,
                double(small) / kMiB);
    EXPECT_LE(hd, 700 * kMiB);
    EXPECT_LE(small, 120 * kMiB);
    // Softmax's N² scores: the memory baseline the linear attentions remove.
    const std::size_t softmax =
        cuda::plan_forward(config(AttentionKind::Softmax), 265, 265).arena_bytes() + cuda::CudaContext::kWorkspaceBytes;
    std::printf("  [plan] softmax 265x265: %.1f MiB\n", double(softmax) / kMiB);
    EXPECT_GT(softmax, 100 * small);
}

TEST(CudaPlan, BuffersLiveTogetherNeverOverlap) {
    for (AttentionKind kind : {AttentionKind::Nala, AttentionKind::Pola, AttentionKind::Softmax}) {
        const cuda::ForwardPlan p = cuda::plan_forward(config(kind, 32, 4, 2, 2, 3), 23, 11);
        const auto& life = p.lifetime;
        for (std::size_t a = 0; a < p.bytes.size(); ++a)
            for (std::size_t b = a + 1; b < p.bytes.size(); ++b) {
                if (p.bytes[a] == 0 || p.bytes[b] == 0) continue;
                const bool together = life[a].first <= life[b].second && life[b].first <= life[a].second;
                const bool apart = p.memory.offsets[a] + p.bytes[a] <= p.memory.offsets[b] ||
                                   p.memory.offsets[b] + p.bytes[b] <= p.memory.offsets[a];
                EXPECT_TRUE(!together || apart) << "buffers " << a << " and " << b;
                EXPECT_LE(p.memory.offsets[a] + p.bytes[a], p.arena_bytes());
            }
    }
}

}  // namespace
}  // namespace nalasr::test
