// The Engine's output check without a GPU (docs/robustness.md, "Half-precision failures"): fake half-precision
// backends that return NaN/Inf or black output, built into Engines through make_engine (engine_internal.h), with the
// real float32 CPU backend (or a fake) to redo the image on. The CUDA side (the reduction kernel, a model that really
// overflows float16) is tests/cuda/test_output_check.cpp.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <limits>
#include <thread>
#include <utility>

#include "backend.h"
#include "cpu_engine.h"
#include "engine_internal.h"
#include "fp16_overflow_model.h"
#include "nalasr/engine.h"
#include "random_image.h"
#include "sample_convert.h"
#include "test_util.h"
#include "tiny_model.h"

namespace nalasr::test {
namespace {

// What a fake backend's pass produces.
enum class Outcome { Good, NonFinite, Black };

// A backend that upscales by pixel repetition, then spoils the result as told: NonFinite puts NaN, +Inf and −Inf in
// every fifth value (as a float16 overflow would), Black zeroes it. With `converts`, it takes 8- and 16-bit images
// itself and returns their samples, as the CUDA backend does (NaN → 0), with its own check of the float output.
class FakeBackend final : public Backend {
public:
    FakeBackend(int scale, Outcome outcome, bool reduced, bool converts = false, bool self_check = false)
        : scale_(scale), outcome_(outcome), reduced_(reduced), converts_(converts), self_check_(self_check) {}

    mutable std::atomic<int> calls{0};

    std::string name() const override { return reduced_ ? "fake-gpu" : "fake-cpu"; }
    bool reduced_precision() const override { return reduced_; }
    bool converts_samples(SampleType type) const override { return converts_ && type != SampleType::F32; }
    std::size_t predict_peak_bytes(int, int) const override { return 0; }
    std::size_t available_bytes() const override { return std::size_t(1) << 30; }

    Status forward(const float* rgb, int width, int height, std::vector<float>* out, const ForwardControl&,
                   ForwardStats* stats) const override {
        ++calls;
        const int s = scale_, out_w = width * s;
        out->assign(std::size_t(width) * height * s * s * 3, 0.0f);
        for (int y = 0; y < height * s; ++y)
            for (int x = 0; x < out_w; ++x)
                for (int c = 0; c < 3; ++c)
                    (*out)[(std::size_t(y) * out_w + x) * 3 + c] = rgb[(std::size_t(y / s) * width + x / s) * 3 + c];
        spoil(out);
        if (self_check_) {
            stats->output_checked = true;
            for (float v : *out) {
                if (!std::isfinite(v)) ++stats->non_finite_outputs;
                else stats->max_output = std::max(stats->max_output, v);
            }
        }
        return Status::ok();
    }

    Status forward_samples(const Image& in, Image* out, const ForwardControl& control,
                           ForwardStats* stats) const override {
        std::vector<float> rgb = colour_to_rgb(in), floats;
        forward(rgb.data(), in.width, in.height, &floats, control, stats);
        // The float output as the CUDA backend's check sees it, then its conversion: NaN becomes 0.
        stats->output_checked = true;
        stats->non_finite_outputs = 0;
        stats->max_output = 0;
        for (float v : floats) {
            if (!std::isfinite(v)) ++stats->non_finite_outputs;
            else stats->max_output = std::max(stats->max_output, v);
        }
        const std::size_t out_pixels = std::size_t(in.width) * in.height * scale_ * scale_;
        const std::vector<float> alpha(in.channels == 2 || in.channels == 4 ? out_pixels : 0, 0.0f);  // alpha 0
        rgb_to_image(floats, alpha, in.width * scale_, in.height * scale_, in.channels, in.type, out);
        return Status::ok();
    }

private:
    void spoil(std::vector<float>* out) const {
        if (outcome_ == Outcome::Black) std::fill(out->begin(), out->end(), 0.0f);
        if (outcome_ != Outcome::NonFinite) return;
        const float bad[] = {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                             -std::numeric_limits<float>::infinity()};
        for (std::size_t i = 0; i < out->size(); i += 5) (*out)[i] = bad[(i / 5) % 3];
    }

    int scale_;
    Outcome outcome_;
    bool reduced_, converts_, self_check_;
};

std::size_t non_finite_count_of(std::size_t values) { return (values + 4) / 5; }

// The float32 backend of the redo: the real CPU backend, counting how often it is created.
BackendFactory cpu_factory(const Model& model, std::atomic<int>* created) {
    return [&model, created](std::unique_ptr<Backend>* out) {
        ++*created;
        return create_cpu_backend(model, 1, out);
    };
}

bool has_stage(const UpscaleStats& stats, const std::string& name) {
    for (const StageTime& stage : stats.stages)
        if (stage.stage == name) return true;
    return false;
}

std::string joined(const std::vector<std::string>& warnings) {
    std::string text;
    for (const std::string& w : warnings) text += w + "\n";
    return text;
}

class OutputCheckTest : public ::testing::Test {
protected:
    const Model model_ = Model::random(tiny_config(2), 11);
    std::atomic<int> created_{0};
};

TEST_F(OutputCheckTest, GoodHalfPrecisionResultPasses) {
    auto gpu = std::make_unique<FakeBackend>(2, Outcome::Good, true, /*converts=*/true);
    const FakeBackend* fake = gpu.get();
    auto engine = make_engine(model_.config(), std::move(gpu), cpu_factory(model_, &created_));
    const Image in = random_image(9, 7, 3, SampleType::U8, 1);
    Image out;
    UpscaleStats stats;
    ASSERT_TRUE(engine->upscale(in, &out, {}, &stats));
    EXPECT_TRUE(stats.warnings.empty()) << joined(stats.warnings);
    EXPECT_FALSE(has_stage(stats, "float32 redo"));
    EXPECT_EQ(created_, 0);  // the float32 backend is not even created
    EXPECT_EQ(fake->calls, 1);
}

// NaN/Inf from the half-precision backend: the image is redone on the float32 CPU backend, which gives exactly the
// CPU engine's output; the warning says what happened. Every path: samples converted by the backend (8/16-bit, with
// alpha), float RGB checked by the engine, float RGB checked by the backend, grey.
TEST_F(OutputCheckTest, NonFiniteHalfPrecisionResultIsRedoneInFloat32) {
    struct Case {
        SampleType type;
        int channels;
        bool converts, self_check;
    };
    const Case cases[] = {{SampleType::U8, 3, true, true},
                          {SampleType::U16, 4, true, true},
                          {SampleType::F32, 3, false, false},
                          {SampleType::U8, 1, false, true},
                          {SampleType::U8, 2, true, true}};
    auto reference = cpu_engine(model_, 1);
    for (const Case& c : cases) {
        SCOPED_TRACE(std::string(sample_type_name(c.type)) + " x" + std::to_string(c.channels) +
                     (c.converts ? " converted by the backend" : "") + (c.self_check ? " checked by the backend" : ""));
        std::atomic<int> created{0};
        auto engine = make_engine(
            model_.config(), std::make_unique<FakeBackend>(2, Outcome::NonFinite, true, c.converts, c.self_check),
            cpu_factory(model_, &created));
        const Image in = random_image(13, 6, c.channels, c.type, 5);
        Image out, want;
        UpscaleStats stats;
        const Status st = engine->upscale(in, &out, {}, &stats);
        ASSERT_TRUE(st) << st.message();
        ASSERT_TRUE(reference->upscale(in, &want, {}, nullptr));
        EXPECT_EQ(out.width, want.width);
        EXPECT_EQ(out.channels, want.channels);
        EXPECT_EQ(out.type, want.type);
        EXPECT_TRUE(out.pixels == want.pixels) << "the redo is the CPU engine's result";
        ASSERT_EQ(stats.warnings.size(), 1u) << joined(stats.warnings);
        const std::string& w = stats.warnings[0];
        const std::size_t values = std::size_t(13 * 2) * (6 * 2) * 3;
        EXPECT_NE(w.find("half-precision result of fake-gpu had " + std::to_string(non_finite_count_of(values)) +
                         " NaN/Inf values (of " + std::to_string(values) + ")"),
                  std::string::npos)
            << w;
        EXPECT_NE(w.find("redone in float32 on the CPU (slower)"), std::string::npos) << w;
        EXPECT_TRUE(has_stage(stats, "float32 redo"));
        EXPECT_EQ(created, 1);
    }
}

TEST_F(OutputCheckTest, Float32BackendIsCreatedOnceAcrossCallsAndThreads) {
    auto engine = make_engine(model_.config(), std::make_unique<FakeBackend>(2, Outcome::NonFinite, true, true, true),
                              cpu_factory(model_, &created_));
    const Image in = random_image(8, 8, 3, SampleType::U8, 3);
    std::atomic<int> redone{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < 2; ++i) {
                Image out;
                UpscaleStats stats;
                if (engine->upscale(in, &out, {}, &stats) && stats.warnings.size() == 1) ++redone;
            }
        });
    for (std::thread& t : threads) t.join();
    EXPECT_EQ(redone, 8);
    EXPECT_EQ(created_, 1);
}

TEST_F(OutputCheckTest, BlackResultOfANonBlackInputIsRedone) {
    auto engine = make_engine(model_.config(), std::make_unique<FakeBackend>(2, Outcome::Black, true, true),
                              cpu_factory(model_, &created_));
    const Image in = random_image(10, 5, 3, SampleType::U8, 9);
    Image out, want;
    UpscaleStats stats;
    ASSERT_TRUE(engine->upscale(in, &out, {}, &stats));
    ASSERT_TRUE(cpu_engine(model_, 1)->upscale(in, &want, {}, nullptr));
    EXPECT_TRUE(out.pixels == want.pixels);
    ASSERT_EQ(stats.warnings.size(), 1u);
    EXPECT_NE(stats.warnings[0].find("all black for an input that is not; redone in float32"), std::string::npos)
        << stats.warnings[0];
}

TEST_F(OutputCheckTest, BlackInputMayGiveBlackOutput) {
    Image in;
    in.allocate(10, 5, 3, SampleType::U8);  // all zero
    auto engine = make_engine(model_.config(), std::make_unique<FakeBackend>(2, Outcome::Black, true, true),
                              cpu_factory(model_, &created_));
    Image out;
    UpscaleStats stats;
    ASSERT_TRUE(engine->upscale(in, &out, {}, &stats));
    EXPECT_TRUE(stats.warnings.empty()) << joined(stats.warnings);
    EXPECT_EQ(created_, 0);
}

TEST_F(OutputCheckTest, NonFiniteFloat32RedoFails) {
    int created = 0;
    BackendFactory broken = [&created](std::unique_ptr<Backend>* out) {
        ++created;
        *out = std::make_unique<FakeBackend>(2, Outcome::NonFinite, false);
        return Status::ok();
    };
    auto engine = make_engine(model_.config(), std::make_unique<FakeBackend>(2, Outcome::NonFinite, true, true, true),
                              broken);
    Image out;
    UpscaleStats stats;
    const Status st = engine->upscale(random_image(6, 6, 3, SampleType::U8, 2), &out, {}, &stats);
    EXPECT_EQ(st.code(), StatusCode::NumericalError);
    EXPECT_NE(st.message().find("NaN/Inf values too"), std::string::npos) << st.message();
    EXPECT_TRUE(out.pixels.empty()) << "no image is handed out";
    EXPECT_EQ(created, 1);
    EXPECT_STREQ(status_code_name(st.code()), "numerical_error");
}

TEST_F(OutputCheckTest, BlackFloat32RedoIsKeptWithAWarning) {
    BackendFactory black = [](std::unique_ptr<Backend>* out) {
        *out = std::make_unique<FakeBackend>(2, Outcome::Black, false);
        return Status::ok();
    };
    auto engine = make_engine(model_.config(), std::make_unique<FakeBackend>(2, Outcome::Black, true, true), black);
    Image out;
    UpscaleStats stats;
    ASSERT_TRUE(engine->upscale(random_image(6, 6, 3, SampleType::U8, 2), &out, {}, &stats));
    ASSERT_EQ(stats.warnings.size(), 1u);
    EXPECT_NE(stats.warnings[0].find("the float32 result is black too"), std::string::npos) << stats.warnings[0];
}

TEST_F(OutputCheckTest, Float32BackendThatCannotBeCreatedIsReported) {
    BackendFactory failing = [](std::unique_ptr<Backend>*) {
        return Status(StatusCode::OutOfMemory, "no memory for the weights");
    };
    auto engine =
        make_engine(model_.config(), std::make_unique<FakeBackend>(2, Outcome::NonFinite, true, true, true), failing);
    Image out;
    const Status st = engine->upscale(random_image(6, 6, 3, SampleType::U8, 2), &out, {}, nullptr);
    EXPECT_EQ(st.code(), StatusCode::OutOfMemory);
    EXPECT_NE(st.message().find("NaN/Inf values"), std::string::npos) << st.message();
    EXPECT_NE(st.message().find("no memory for the weights"), std::string::npos) << st.message();
}

TEST_F(OutputCheckTest, RunNetworkIsCheckedAndRedoneToo) {
    auto engine = make_engine(model_.config(), std::make_unique<FakeBackend>(2, Outcome::NonFinite, true),
                              cpu_factory(model_, &created_));
    const std::vector<float> rgb = colour_to_rgb(random_image(7, 9, 3, SampleType::F32, 4));
    std::vector<float> got, want;
    UpscaleStats stats;
    ASSERT_TRUE(engine->run_network(rgb.data(), 7, 9, &got, {}, &stats));
    ASSERT_TRUE(cpu_engine(model_, 1)->run_network(rgb.data(), 7, 9, &want, {}, nullptr));
    EXPECT_EQ(got, want);
    ASSERT_EQ(stats.warnings.size(), 1u);
    EXPECT_NE(stats.warnings[0].find("NaN/Inf values"), std::string::npos);
}

// A float32 backend has nothing to redo on: NaN/Inf fails (never written out), black passes with a warning.
TEST_F(OutputCheckTest, Float32BackendWithoutRedo) {
    {
        auto engine = make_engine(model_.config(), std::make_unique<FakeBackend>(2, Outcome::NonFinite, false),
                                  cpu_factory(model_, &created_));
        Image out;
        const Status st = engine->upscale(random_image(6, 6, 3, SampleType::U8, 2), &out, {}, nullptr);
        EXPECT_EQ(st.code(), StatusCode::NumericalError);
        EXPECT_NE(st.message().find("fake-cpu"), std::string::npos) << st.message();
    }
    {
        auto engine = make_engine(model_.config(), std::make_unique<FakeBackend>(2, Outcome::Black, false),
                                  cpu_factory(model_, &created_));
        Image out;
        UpscaleStats stats;
        ASSERT_TRUE(engine->upscale(random_image(6, 6, 3, SampleType::U8, 2), &out, {}, &stats));
        ASSERT_EQ(stats.warnings.size(), 1u);
        EXPECT_NE(stats.warnings[0].find("all black"), std::string::npos);
    }
    EXPECT_EQ(created_, 0);  // never used for a backend that is not reduced precision
}

// The real CPU engine on weights that make NaN: an error, not a black image.
TEST_F(OutputCheckTest, CpuEngineOnNanWeightsFails) {
    Model model = Model::random(tiny_config(2), 3);
    model.mutable_tensors()["conv_first.bias"].data[1] = std::numeric_limits<float>::quiet_NaN();
    Image out;
    const Status st = cpu_engine(model, 1)->upscale(random_image(6, 5, 3, SampleType::U8, 2), &out, {}, nullptr);
    EXPECT_EQ(st.code(), StatusCode::NumericalError);
    EXPECT_NE(st.message().find("NaN/Inf values"), std::string::npos) << st.message();
}

// The premise of the CUDA test (tests/cuda/test_output_check.cpp), checked where it can be: the first feature map
// exceeds float16's range at every pixel, and the float32 CPU result stays finite (and needs no redo).
TEST_F(OutputCheckTest, Fp16OverflowModelIsFiniteInFloat32) {
    const Model model = fp16_overflow_model();
    const Tensor* w = model.find("conv_first.weight");
    const Tensor* b = model.find("conv_first.bias");
    ASSERT_TRUE(w && b);
    double reach = 0;  // the most channel 0's 27 weights can take off the bias, inputs − 0.5 in [−0.5, 0.5]
    for (int i = 0; i < 27; ++i) reach += 0.5 * std::abs(w->data[std::size_t(i)]);
    EXPECT_GT(double(b->data[0]) - reach, 65504.0) << "feat's channel 0 exceeds float16 at every pixel";

    // The CUDA test's inputs: its images (24×16, seed 12) and its float RGB (random_floats seed 4).
    auto engine = cpu_engine(model, 1);
    for (const auto& [type, channels] : {std::pair{SampleType::U8, 3}, {SampleType::U16, 4}, {SampleType::F32, 3}}) {
        const Image in = random_image(24, 16, channels, type, 12);
        std::vector<float> rgb = colour_to_rgb(in), out;
        UpscaleStats stats;
        ASSERT_TRUE(engine->run_network(rgb.data(), in.width, in.height, &out, {}, &stats));
        for (float v : out) ASSERT_TRUE(std::isfinite(v));
        EXPECT_TRUE(stats.warnings.empty()) << joined(stats.warnings);
    }
    const std::vector<float> rgb = random_floats(24 * 16 * 3, 4, 0.0f, 1.0f);
    std::vector<float> out;
    ASSERT_TRUE(engine->run_network(rgb.data(), 24, 16, &out, {}, nullptr));
    float largest = 0;
    for (float v : out) {
        ASSERT_TRUE(std::isfinite(v));
        largest = std::max(largest, std::abs(v));
    }
    std::printf("  fp16 overflow model, float32 output: largest |value| %.3g\n", double(largest));
}

}  // namespace
}  // namespace nalasr::test
