// The output check on the GPU (docs/robustness.md, "Half-precision failures"): the reduction kernel against a host
// count, and a model that overflows float16 on the GPU but not float32 (tests/fp16_overflow_model.h), upscaled on
// CUDA: the Engine redoes it in float32 on the CPU, warns, and returns the CPU's result. Every test skips without a
// GPU; the engine logic itself is tested without one in tests/test_output_check.cpp.
#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>

#include "../fp16_overflow_model.h"
#include "../random_image.h"
#include "../tiny_model.h"
#include "backend.h"
#include "cuda_test_util.h"
#include "finite_check.cuh"
#include "nalasr/engine.h"

namespace nalasr::test {
namespace {

struct HostCount {
    unsigned long long non_finite = 0;
    float max = 0.0f;  // largest finite value, 0 when none is positive
};

HostCount host_count(const float* v, std::size_t n) {
    HostCount c;
    for (std::size_t i = 0; i < n; ++i) {
        if (!std::isfinite(v[i])) ++c.non_finite;
        else c.max = std::max(c.max, v[i]);
    }
    return c;
}

// Random values in [lo, hi) with NaN, +Inf and −Inf planted at random positions (about one in `every`).
std::vector<float> planted(std::size_t n, std::uint64_t seed, float lo, float hi, std::size_t every) {
    std::vector<float> v = random_floats(n, seed, lo, hi);
    std::mt19937_64 rng(seed ^ 0x9e3779b97f4a7c15ull);
    const float bad[] = {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                         -std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::quiet_NaN()};
    const std::size_t count = n / every + (n > 0 ? 1 : 0);
    for (std::size_t k = 0; k < count && n > 0; ++k) v[rng() % n] = bad[rng() % 4];
    return v;
}

// The kernel's count and maximum of device data[offset, offset + n).
kernels::FiniteCheck device_check(const DeviceArray<float>& data, std::size_t offset, std::size_t n) {
    cuda::DeviceBuffer result;
    EXPECT_TRUE(result.allocate(sizeof(kernels::FiniteCheck)));
    auto* r = reinterpret_cast<kernels::FiniteCheck*>(result.data());
    EXPECT_EQ(kernels::check_finite(data.get() + offset, std::int64_t(n), r, nullptr), cudaSuccess);
    kernels::FiniteCheck host{};
    EXPECT_EQ(cudaMemcpy(&host, r, sizeof host, cudaMemcpyDeviceToHost), cudaSuccess);
    return host;
}

// Sizes around the block (256 threads), the 4-value loads, and the 1024-block grid (so threads stride), aligned and
// not (offset 1: the scalar path).
TEST(FiniteCheckKernel, MatchesHostCount) {
    NALASR_SKIP_WITHOUT_GPU();
    const std::size_t sizes[] = {1, 3, 4, 5, 255, 256, 257, 1023, 1025, 4097, 262143, 1048576 + 3, 3000 * 1001};
    std::uint64_t seed = 1;
    for (std::size_t n : sizes) {
        for (std::size_t offset : {std::size_t(0), std::size_t(1)}) {
            for (std::size_t every : {std::size_t(7), std::size_t(100000)}) {
                SCOPED_TRACE("n " + std::to_string(n) + " offset " + std::to_string(offset) + " one bad in " +
                             std::to_string(every));
                const std::vector<float> values = planted(n + offset, ++seed, -1.0f, 2.0f, every);
                const DeviceArray<float> data(values);
                const HostCount want = host_count(values.data() + offset, n);
                const kernels::FiniteCheck got = device_check(data, offset, n);
                EXPECT_EQ(got.non_finite, want.non_finite);
                EXPECT_EQ(kernels::finite_check_max(got), want.max);
            }
        }
    }
}

TEST(FiniteCheckKernel, EdgeCases) {
    NALASR_SKIP_WITHOUT_GPU();
    // Nothing to check: zero, zero.
    const DeviceArray<float> one(std::vector<float>{1.0f});
    kernels::FiniteCheck got = device_check(one, 0, 0);
    EXPECT_EQ(got.non_finite, 0u);
    EXPECT_EQ(kernels::finite_check_max(got), 0.0f);
    // All negative (and −0): the maximum reads 0, nothing non-finite.
    const DeviceArray<float> negative(random_floats(10000, 5, -3.0f, -0.5f));
    got = device_check(negative, 0, 10000);
    EXPECT_EQ(got.non_finite, 0u);
    EXPECT_EQ(kernels::finite_check_max(got), 0.0f);
    // Everything NaN; the largest finite float is a value, not an overflow.
    const DeviceArray<float> nan(std::vector<float>(777, std::numeric_limits<float>::quiet_NaN()));
    EXPECT_EQ(device_check(nan, 0, 777).non_finite, 777u);
    std::vector<float> big(513, 1.0f);
    big[300] = std::numeric_limits<float>::max();
    big[301] = std::numeric_limits<float>::denorm_min();
    const DeviceArray<float> bigs(big);
    got = device_check(bigs, 0, 513);
    EXPECT_EQ(got.non_finite, 0u);
    EXPECT_EQ(kernels::finite_check_max(got), std::numeric_limits<float>::max());
}

std::unique_ptr<Engine> engine_on(const Model& model, BackendKind kind) {
    EngineParams params;
    params.backend = kind;
    params.cpu_threads = 2;  // the same for the CPU engine and the CUDA engine's float32 redo
    std::unique_ptr<Engine> engine;
    const Status st = Engine::create(model, params, &engine);
    EXPECT_TRUE(st) << st.message();
    return engine;
}

// The backend's own check: the fp16-overflow model gives NaN/Inf on the GPU; a normal model none.
TEST(CudaOutputCheck, BackendCountsNonFiniteOutputs) {
    NALASR_SKIP_WITHOUT_GPU();
    const std::vector<float> img = random_floats(20 * 14 * 3, 3, 0.0f, 1.0f);
    for (bool overflow : {false, true}) {
        SCOPED_TRACE(overflow ? "fp16 overflow model" : "normal model");
        const Model model = overflow ? fp16_overflow_model() : Model::random(tiny_config(2), 7);
        std::unique_ptr<Backend> gpu;
        ASSERT_TRUE(create_cuda_backend(model, 0, &gpu));
        EXPECT_TRUE(gpu->reduced_precision());
        std::vector<float> out;
        ForwardStats stats;
        ASSERT_TRUE(gpu->forward(img.data(), 20, 14, &out, {}, &stats));
        EXPECT_TRUE(stats.output_checked);
        const HostCount want = host_count(out.data(), out.size());
        EXPECT_EQ(stats.non_finite_outputs, want.non_finite);
        EXPECT_EQ(stats.max_output, want.max);
        if (overflow) EXPECT_GT(stats.non_finite_outputs, out.size() / 2) << "float16 overflowed";
        else EXPECT_EQ(stats.non_finite_outputs, 0u);
    }
}

// The user-visible behaviour: on CUDA the fp16-overflow model's images come back finite, equal to the CPU engine's
// (the redo runs the same CPU backend), with the warning; 8-bit (converted on the GPU, where NaN would become black),
// 16-bit with alpha, float, and run_network.
TEST(CudaOutputCheck, Fp16OverflowIsRedoneInFloat32WithAWarning) {
    NALASR_SKIP_WITHOUT_GPU();
    const Model model = fp16_overflow_model();
    auto gpu = engine_on(model, BackendKind::Cuda);
    auto cpu = engine_on(model, BackendKind::Cpu);
    ASSERT_TRUE(gpu && cpu);
    ASSERT_NE(gpu->backend_name().find("cuda"), std::string::npos);

    struct Case {
        SampleType type;
        int channels;
    };
    for (const Case c : {Case{SampleType::U8, 3}, Case{SampleType::U16, 4}, Case{SampleType::F32, 3}}) {
        SCOPED_TRACE(std::string(sample_type_name(c.type)) + " x" + std::to_string(c.channels));
        const Image in = random_image(24, 16, c.channels, c.type, 12);
        Image got, want;
        UpscaleStats stats;
        const Status st = gpu->upscale(in, &got, {}, &stats);
        ASSERT_TRUE(st) << st.message();
        ASSERT_TRUE(cpu->upscale(in, &want, {}, nullptr));
        ASSERT_EQ(stats.warnings.size(), 1u);
        EXPECT_NE(stats.warnings[0].find("NaN/Inf values"), std::string::npos) << stats.warnings[0];
        EXPECT_NE(stats.warnings[0].find("redone in float32 on the CPU"), std::string::npos) << stats.warnings[0];
        ASSERT_EQ(got.pixels.size(), want.pixels.size());
        if (c.type == SampleType::F32) {
            const auto* g = reinterpret_cast<const float*>(got.pixels.data());
            const auto* w = reinterpret_cast<const float*>(want.pixels.data());
            const std::size_t n = got.pixels.size() / sizeof(float);
            std::vector<float> gv(g, g + n), wv(w, w + n);
            EXPECT_TRUE(all_finite(gv));
            EXPECT_LT(nmse(gv, wv), 1e-10);
        } else {
            EXPECT_TRUE(got.pixels == want.pixels);  // same CPU backend, same threads: identical samples
        }
    }

    const std::vector<float> rgb = random_floats(24 * 16 * 3, 4, 0.0f, 1.0f);
    std::vector<float> got, want;
    UpscaleStats stats;
    ASSERT_TRUE(gpu->run_network(rgb.data(), 24, 16, &got, {}, &stats));
    ASSERT_TRUE(cpu->run_network(rgb.data(), 24, 16, &want, {}, nullptr));
    EXPECT_TRUE(all_finite(got));
    EXPECT_LT(nmse(got, want), 1e-10);
    EXPECT_EQ(stats.warnings.size(), 1u);
}

// No false alarm: a normal model on CUDA passes the check without a redo.
TEST(CudaOutputCheck, NormalModelNeedsNoRedo) {
    NALASR_SKIP_WITHOUT_GPU();
    auto gpu = engine_on(Model::random(tiny_config(2), 7), BackendKind::Cuda);
    ASSERT_TRUE(gpu);
    Image out;
    UpscaleStats stats;
    ASSERT_TRUE(gpu->upscale(random_image(40, 30, 3, SampleType::U8, 2), &out, {}, &stats));
    EXPECT_TRUE(stats.warnings.empty());
    for (const StageTime& stage : stats.stages) EXPECT_NE(stage.stage, "float32 redo");
}

}  // namespace
}  // namespace nalasr::test
