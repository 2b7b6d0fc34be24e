// TTA (UpscaleParams::tta, core/src/tta.h) on the CPU backend with a small random-weight model: the result is the
// mean over the 8 dihedral transforms, computed here from plain run_network() passes with transforms written out
// independently (rotations by 90° and a mirror); progress, cancellation between passes, the memory check of both
// orientations, the float path on a backend that converts samples itself, and the one call with its memory check on
// a backend that runs TTA itself (CUDA), with fake backends.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <utility>
#include <vector>

#include "backend.h"
#include "cpu_engine.h"
#include "engine_internal.h"
#include "nalasr/engine.h"
#include "progress_log.h"
#include "random_image.h"
#include "sample_convert.h"
#include "test_util.h"
#include "tiny_model.h"
#include "tta.h"

namespace nalasr::test {
namespace {

// A float RGB image for the reference transforms.
struct Rgb {
    int width = 0, height = 0;
    std::vector<float> values;  // (height, width, 3)
    const float* at(int x, int y) const { return &values[(std::size_t(y) * width + x) * 3]; }
};

// Rotation by 90° counter-clockwise: the top row becomes the left column, read bottom-up.
Rgb rotate90(const Rgb& in) {
    Rgb out{in.height, in.width, std::vector<float>(in.values.size())};
    for (int y = 0; y < out.height; ++y)
        for (int x = 0; x < out.width; ++x)
            std::copy_n(in.at(in.width - 1 - y, x), 3, &out.values[(std::size_t(y) * out.width + x) * 3]);
    return out;
}

Rgb mirror(const Rgb& in) {
    Rgb out{in.width, in.height, std::vector<float>(in.values.size())};
    for (int y = 0; y < in.height; ++y)
        for (int x = 0; x < in.width; ++x)
            std::copy_n(in.at(in.width - 1 - x, y), 3, &out.values[(std::size_t(y) * out.width + x) * 3]);
    return out;
}

Rgb rotated(Rgb image, int quarter_turns) {
    for (int i = 0; i < quarter_turns % 4; ++i) image = rotate90(image);
    return image;
}

// The 8 elements of the dihedral group: rotate(mirror^m(x), k) for k in 0..3, m in 0..1; and their inverses.
Rgb apply(const Rgb& image, int k, bool m) { return rotated(m ? mirror(image) : image, k); }
Rgb undo(const Rgb& image, int k, bool m) {
    Rgb back = rotated(image, 4 - k);
    return m ? mirror(back) : back;
}

// The mean over the 8 transforms of plain run_network passes, in float64.
std::vector<double> reference_tta(const Engine& engine, const Rgb& in) {
    const int s = engine.config().scale;
    std::vector<double> sum(std::size_t(in.width) * in.height * s * s * 3, 0.0);
    for (int k = 0; k < 4; ++k) {
        for (bool m : {false, true}) {
            const Rgb t = apply(in, k, m);
            Rgb out{t.width * s, t.height * s, {}};
            const Status st = engine.run_network(t.values.data(), t.width, t.height, &out.values, {}, nullptr);
            EXPECT_TRUE(st) << st.message();
            const Rgb back = undo(out, k, m);
            EXPECT_EQ(back.width, in.width * s);
            for (std::size_t i = 0; i < sum.size(); ++i) sum[i] += back.values[i];
        }
    }
    for (double& v : sum) v /= 8;
    return sum;
}

UpscaleParams tta_params(bool on = true) {
    UpscaleParams params;
    params.tta = on;
    return params;
}

bool has_stage(const UpscaleStats& stats, const std::string& name) {
    return std::any_of(stats.stages.begin(), stats.stages.end(), [&](const StageTime& s) { return s.stage == name; });
}

class TtaTest : public ::testing::TestWithParam<int> {  // the model's scale
protected:
    void SetUp() override {
        engine_ = cpu_engine(model_);
        ASSERT_TRUE(engine_);
    }
    const Model model_ = Model::random(tiny_config(GetParam(), AttentionKind::Nala, 2), 17);
    std::unique_ptr<Engine> engine_;
};

TEST_P(TtaTest, RunNetworkIsTheMeanOverTheEightTransforms) {
    const Rgb in{13, 9, random_floats(13 * 9 * 3, 5, 0.0f, 1.0f)};
    const std::vector<double> want = reference_tta(*engine_, in);
    std::vector<float> tta, plain;
    UpscaleStats stats;
    ASSERT_TRUE(engine_->run_network(in.values.data(), in.width, in.height, &tta, tta_params(), &stats));
    ASSERT_TRUE(engine_->run_network(in.values.data(), in.width, in.height, &plain, {}, nullptr));
    ASSERT_EQ(tta.size(), want.size());
    const double error = rel_l2(tta, want), plain_error = rel_l2(plain, want);
    print_error("TTA vs the mean of 8 transformed passes", error);
    print_error("plain (identity only) vs that mean", plain_error);
    EXPECT_LE(error, 1e-6);
    // A TTA that ran the identity alone, or forgot to turn a result back, would be this far off.
    EXPECT_GT(plain_error, 1e-2);

    // One "network" stage summed over the passes, and the peak of the larger orientation.
    EXPECT_EQ(std::count_if(stats.stages.begin(), stats.stages.end(),
                            [](const StageTime& s) { return s.stage == "network"; }),
              1);
    EXPECT_TRUE(has_stage(stats, "tta"));
    EXPECT_EQ(stats.planned_peak_bytes, engine_->predict_upscale_peak_bytes(13, 9, tta_params()));
    EXPECT_EQ(engine_->predict_upscale_peak_bytes(13, 9, tta_params()),
              std::max(engine_->predict_peak_bytes(13, 9), engine_->predict_peak_bytes(9, 13)));

    std::vector<float> again;  // deterministic: the passes are always added in the same order
    ASSERT_TRUE(engine_->run_network(in.values.data(), in.width, in.height, &again, tta_params(), nullptr));
    EXPECT_EQ(again, tta);
}

TEST_P(TtaTest, Upscale8BitImage) {
    const Image in = random_image(13, 9, 3, SampleType::U8, 9);
    const std::vector<float> rgb = colour_to_rgb(in);
    const std::vector<double> mean = reference_tta(*engine_, {in.width, in.height, rgb});
    const int s = GetParam();
    Image want, got, plain;
    rgb_to_image(std::vector<float>(mean.begin(), mean.end()), {}, in.width * s, in.height * s, 3, SampleType::U8,
                 &want);
    ASSERT_TRUE(engine_->upscale(in, &got, tta_params(), nullptr));
    ASSERT_TRUE(engine_->upscale(in, &plain, {}, nullptr));
    ASSERT_EQ(got.pixels.size(), want.pixels.size());
    int max_diff = 0, differing = 0, differing_plain = 0;
    for (std::size_t i = 0; i < want.pixels.size(); ++i) {
        const int d = std::abs(int(got.pixels[i]) - int(want.pixels[i]));
        max_diff = std::max(max_diff, d);
        differing += d != 0;
        differing_plain += plain.pixels[i] != want.pixels[i];
    }
    std::printf("  u8 x%d: %d of %zu samples differ from the reference (max %d); plain: %d\n", s, differing,
                want.pixels.size(), max_diff, differing_plain);
    EXPECT_LE(max_diff, 1);  // float32 sums in another order may round the other way at a half step
    EXPECT_LE(differing, int(want.pixels.size() / 200));
    EXPECT_GT(differing_plain, int(want.pixels.size() / 4));
}

TEST_P(TtaTest, ProgressIsMonotonicAcrossThePasses) {
    const Image in = random_image(11, 7, 4, SampleType::U16, 3);
    test::ProgressLog log;
    UpscaleParams params = tta_params();
    log.attach(params);
    Image out;
    ASSERT_TRUE(engine_->upscale(in, &out, params, nullptr));
    log.expect_monotonic_to_one();
    log.expect_tta_passes();
}

INSTANTIATE_TEST_SUITE_P(Scales, TtaTest, ::testing::Values(2, 3),
                         [](const ::testing::TestParamInfo<int>& info) { return "x" + std::to_string(info.param); });

// A ×2 backend by pixel repetition with scripted memory figures: the planner's peak depends on the width only
// (predict(w, h) = w · `bytes_per_column`), so the two orientations differ. With `converts`, it takes 8- and 16-bit
// images itself, as the CUDA backend does; with `runs_tta`, it takes TTA as one call (pixel repetition commutes with
// every transform, so its TTA is its plain result), reporting the progress of 8 passes. Counts its calls.
class ScriptedBackend final : public Backend {
public:
    ScriptedBackend(std::size_t bytes_per_column, std::size_t available, bool host, bool converts = false,
                    bool runs_tta = false)
        : bytes_per_column_(bytes_per_column), available_(available), host_(host), converts_(converts),
          runs_tta_(runs_tta) {}

    mutable std::atomic<int> float_calls{0}, sample_calls{0}, tta_calls{0};

    std::string name() const override { return "scripted"; }
    bool host_memory() const override { return host_; }
    bool runs_tta() const override { return runs_tta_; }
    bool converts_samples(SampleType type) const override { return converts_ && type != SampleType::F32; }
    std::size_t predict_peak_bytes(int width, int) const override { return width * bytes_per_column_; }
    std::size_t available_bytes() const override { return available_; }

    Status forward(const float* rgb, int width, int height, std::vector<float>* out, const ForwardControl& control,
                   ForwardStats*) const override {
        ++float_calls;
        tta(control);
        repeat(rgb, width, height, out);
        return Status::ok();
    }
    Status forward_samples(const Image& in, Image* out, const ForwardControl& control,
                           ForwardStats*) const override {
        ++sample_calls;
        tta(control);
        std::vector<float> floats;
        repeat(colour_to_rgb(in).data(), in.width, in.height, &floats);
        rgb_to_image(floats, {}, in.width * 2, in.height * 2, in.channels, in.type, out);
        return Status::ok();
    }

private:
    void tta(const ForwardControl& control) const {
        if (!control.tta) return;
        ++tta_calls;
        if (control.report)
            for (int pass = 0; pass < kDihedralTransforms; ++pass)
                for (double f : {0.0, 0.5, 1.0}) control.report((pass + f) / kDihedralTransforms);
    }
    static void repeat(const float* rgb, int width, int height, std::vector<float>* out) {
        out->assign(std::size_t(width) * height * 4 * 3, 0.0f);
        for (int y = 0; y < height * 2; ++y)
            for (int x = 0; x < width * 2; ++x)
                std::copy_n(&rgb[(std::size_t(y / 2) * width + x / 2) * 3], 3,
                            &(*out)[(std::size_t(y) * width * 2 + x) * 3]);
    }
    std::size_t bytes_per_column_, available_;
    bool host_, converts_, runs_tta_;
};

struct Scripted {
    const ScriptedBackend* backend;
    std::unique_ptr<Engine> engine;
};

Scripted scripted_engine(std::size_t bytes_per_column, std::size_t available, bool host, bool converts = false,
                         bool runs_tta = false) {
    auto backend = std::make_unique<ScriptedBackend>(bytes_per_column, available, host, converts, runs_tta);
    const ScriptedBackend* raw = backend.get();
    return {raw, make_engine(tiny_config(2), std::move(backend), {})};
}

// Cancelled between the 2nd and 3rd pass: Cancelled, two passes run, no output.
TEST(Tta, AbortAfterTheSecondPass) {
    Scripted s = scripted_engine(0, std::size_t(1) << 30, true);
    UpscaleParams params = tta_params();
    params.should_abort = [&] { return s.backend->float_calls >= 2; };
    const Image in = random_image(10, 6, 3, SampleType::U8, 4);
    Image out = random_image(3, 3, 1, SampleType::U8, 5);
    const Image before = out;
    const Status st = s.engine->upscale(in, &out, params, nullptr);
    EXPECT_EQ(st.code(), StatusCode::Cancelled);
    EXPECT_EQ(s.backend->float_calls, 2);
    EXPECT_EQ(out.pixels, before.pixels);
    EXPECT_EQ(out.width, 3);

    s.backend->float_calls = 0;
    const std::vector<float> rgb = colour_to_rgb(in);
    std::vector<float> floats = {1.0f, 2.0f};
    EXPECT_EQ(s.engine->run_network(rgb.data(), in.width, in.height, &floats, params, nullptr).code(),
              StatusCode::Cancelled);
    EXPECT_EQ(s.backend->float_calls, 2);
    EXPECT_EQ(floats, (std::vector<float>{1.0f, 2.0f}));
}

// The planner's check covers the other orientation: 10×30 fits one pass (10 columns) but its rotation (30 columns)
// does not, so TTA is refused before any pass; without TTA the image runs.
TEST(Tta, MemoryCheckCoversBothOrientations) {
    Scripted s = scripted_engine(1000, 20000, false);
    const Image tall = random_image(10, 30, 3, SampleType::U8, 6);
    Image out;
    EXPECT_EQ(s.engine->predict_upscale_peak_bytes(10, 30, {}), 10000u);
    EXPECT_EQ(s.engine->predict_upscale_peak_bytes(10, 30, tta_params()), 30000u);
    const Status st = s.engine->upscale(tall, &out, tta_params(), nullptr);
    EXPECT_EQ(st.code(), StatusCode::OutOfMemory);
    EXPECT_NE(st.message().find("TTA"), std::string::npos) << st.message();
    EXPECT_EQ(s.backend->float_calls, 0);
    EXPECT_TRUE(s.engine->upscale(tall, &out, {}, nullptr));
    EXPECT_EQ(out.width, 20);
}

// On a backend in host memory the accumulator counts too; on a device it does not.
TEST(Tta, HostAccumulatorCountsOnAHostBackend) {
    // 10×10 ×2: a pass's output is 4800 bytes; the accumulator and a transformed input 6000 more.
    const Image in = random_image(10, 10, 3, SampleType::F32, 7);
    Image out;
    Scripted host = scripted_engine(0, 8000, true);
    EXPECT_EQ(host.engine->upscale(in, &out, tta_params(), nullptr).code(), StatusCode::OutOfMemory);
    EXPECT_EQ(host.backend->float_calls, 0);
    Scripted device = scripted_engine(0, 8000, false);
    EXPECT_TRUE(device.engine->upscale(in, &out, tta_params(), nullptr));
    EXPECT_EQ(device.backend->float_calls, 8);
}

// The prediction for TTA counts the accumulator and the input where they live beside the pass on the backend's
// device (a backend that runs TTA itself, as CUDA does), and not where they are in host memory outside it.
TEST(Tta, PredictionCountsTheBuffersOfABackendThatRunsTta) {
    // 10×30 ×2: the larger orientation's pass 30000 bytes; the input 3600 and the accumulator 14400 more.
    Scripted runs_tta = scripted_engine(1000, std::size_t(1) << 30, false, false, true);
    EXPECT_EQ(runs_tta.engine->predict_upscale_peak_bytes(10, 30, tta_params()), 30000u + 3600u + 14400u);
    EXPECT_EQ(runs_tta.engine->predict_upscale_peak_bytes(10, 30, {}), 10000u);
    Scripted host_tta = scripted_engine(1000, std::size_t(1) << 30, false);
    EXPECT_EQ(host_tta.engine->predict_upscale_peak_bytes(10, 30, tta_params()), 30000u);
}

// A backend that converts 8- and 16-bit samples itself (CUDA) gets float RGB with TTA, 8 times.
TEST(Tta, TakesTheFloatPathWhereTheBackendConvertsSamples) {
    Scripted s = scripted_engine(0, std::size_t(1) << 30, false, true);
    const Image in = random_image(9, 5, 3, SampleType::U16, 8);
    Image plain, tta;
    ASSERT_TRUE(s.engine->upscale(in, &plain, {}, nullptr));
    EXPECT_EQ(s.backend->sample_calls, 1);
    EXPECT_EQ(s.backend->float_calls, 0);
    UpscaleStats stats;
    ASSERT_TRUE(s.engine->upscale(in, &tta, tta_params(), &stats));
    EXPECT_EQ(s.backend->sample_calls, 1);
    EXPECT_EQ(s.backend->float_calls, 8);
    EXPECT_EQ(tta.pixels, plain.pixels);  // pixel repetition commutes with every flip and rotation
    EXPECT_TRUE(has_stage(stats, "tta"));
}

// A backend that runs TTA itself (CUDA) gets it as one call with ForwardControl::tta, on its own 8- and 16-bit
// samples; its progress over the 8 passes is named per pass, as the host TTA's is.
TEST(Tta, ABackendThatRunsTtaGetsOneCallOnItsSamples) {
    Scripted s = scripted_engine(0, std::size_t(1) << 30, false, true, true);
    const Image in = random_image(9, 5, 3, SampleType::U16, 8);
    Image plain, tta;
    ASSERT_TRUE(s.engine->upscale(in, &plain, {}, nullptr));
    EXPECT_EQ(s.backend->tta_calls, 0);
    std::vector<std::string> passes;  // the pass stages in the order they first appear
    UpscaleParams params = tta_params();
    params.progress = [&](double, const char* stage) {
        if (std::string(stage).rfind("network", 0) == 0 && (passes.empty() || passes.back() != stage))
            passes.push_back(stage);
    };
    ASSERT_TRUE(s.engine->upscale(in, &tta, params, nullptr));
    EXPECT_EQ(s.backend->sample_calls, 2);
    EXPECT_EQ(s.backend->float_calls, 0);
    EXPECT_EQ(s.backend->tta_calls, 1);
    EXPECT_EQ(tta.pixels, plain.pixels);
    ASSERT_EQ(passes.size(), 8u);
    for (int k = 0; k < 8; ++k) EXPECT_EQ(passes[k], "network (TTA " + std::to_string(k + 1) + "/8)");

    const std::vector<float> rgb = colour_to_rgb(in);  // float RGB: one forward() call
    std::vector<float> out;
    ASSERT_TRUE(s.engine->run_network(rgb.data(), in.width, in.height, &out, tta_params(), nullptr));
    EXPECT_EQ(s.backend->float_calls, 1);
    EXPECT_EQ(s.backend->tta_calls, 2);
}

// A backend that runs TTA itself holds the accumulator and the input beside its pass, in its own memory.
TEST(Tta, BuffersCountOnABackendThatRunsTta) {
    // 10×10 ×2: the accumulator (4800 bytes) and the input (1200 bytes).
    const Image in = random_image(10, 10, 3, SampleType::U8, 7);
    Image out;
    Scripted tight = scripted_engine(0, 5999, false, true, true);
    EXPECT_EQ(tight.engine->upscale(in, &out, tta_params(), nullptr).code(), StatusCode::OutOfMemory);
    EXPECT_EQ(tight.backend->sample_calls, 0);
    Scripted enough = scripted_engine(0, 6000, false, true, true);
    EXPECT_TRUE(enough.engine->upscale(in, &out, tta_params(), nullptr));
    EXPECT_EQ(enough.backend->tta_calls, 1);
}

}  // namespace
}  // namespace nalasr::test
