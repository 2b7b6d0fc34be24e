// "Keep input colours" (UpscaleParams::keep_input_colours, core/src/keep_colours.h) end to end on the CPU backend with
// a small random-weight model: the output's luminance is the network's and its chroma the bicubic upscale's, for every
// sample type; grey images and alpha are untouched. A fake backend that tints its output and converts samples itself
// (as CUDA does for 8/16-bit images) checks that the step also runs where the backend would convert the samples.
//
// The reference below is written out independently of OpenCV's colour conversion: BT.601 full range,
// Y = 0.299 R + 0.587 G + 0.114 B, Cb = 0.5 + (B − Y) / 1.772, Cr = 0.5 + (R − Y) / 1.402.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstring>
#include <opencv2/imgproc.hpp>
#include <random>

#include "backend.h"
#include "engine_internal.h"
#include "nalasr/engine.h"
#include "sample_convert.h"
#include "cpu_engine.h"
#include "random_image.h"
#include "tiny_model.h"

namespace nalasr {
namespace {

using Ycc = std::array<double, 3>;  // Y, Cb, Cr

Ycc to_ycc(double r, double g, double b) {
    const double y = 0.299 * r + 0.587 * g + 0.114 * b;
    return {y, 0.5 + (b - y) / 1.772, 0.5 + (r - y) / 1.402};
}

std::array<double, 3> to_rgb(const Ycc& ycc) {
    const double cb = ycc[1] - 0.5, cr = ycc[2] - 0.5;
    const double r = ycc[0] + 1.402 * cr, b = ycc[0] + 1.772 * cb;
    return {r, (ycc[0] - 0.299 * r - 0.114 * b) / 0.587, b};
}

double clamp_unit(double v) { return std::clamp(v, 0.0, 1.0); }

// Every sample of `image` as a float in [0, 1] (integers divided by their maximum), all channels.
std::vector<float> samples(const Image& image) {
    const std::size_t n = std::size_t(image.width) * image.height * image.channels;
    std::vector<float> v(n);
    for (std::size_t i = 0; i < n; ++i) {
        if (image.type == SampleType::U8) {
            v[i] = image.pixels[i] / 255.0f;
        } else if (image.type == SampleType::U16) {
            std::uint16_t s;
            std::memcpy(&s, &image.pixels[2 * i], 2);
            v[i] = s / 65535.0f;
        } else {
            std::memcpy(&v[i], &image.pixels[4 * i], 4);
        }
    }
    return v;
}

UpscaleParams keep_colours(bool on) {
    UpscaleParams params;
    params.keep_input_colours = on;
    return params;
}

bool has_stage(const UpscaleStats& stats, const std::string& name) {
    return std::any_of(stats.stages.begin(), stats.stages.end(), [&](const StageTime& s) { return s.stage == name; });
}

// The input's colour channels enlarged to the output's size with OpenCV's bicubic, clamped to [0, 1].
std::vector<float> bicubic_rgb(const Image& in, int out_w, int out_h) {
    const std::vector<float> rgb = colour_to_rgb(in);
    const cv::Mat src(in.height, in.width, CV_32FC3, const_cast<float*>(rgb.data()));
    cv::Mat dst;
    cv::resize(src, dst, cv::Size(out_w, out_h), 0, 0, cv::INTER_CUBIC);
    std::vector<float> out(dst.ptr<float>(), dst.ptr<float>() + std::size_t(out_w) * out_h * 3);
    for (float& v : out) v = std::clamp(v, 0.0f, 1.0f);
    return out;
}

// What the comparison of the outputs with and without the option found.
struct Comparison {
    double max_rgb_error = 0;     // |on − clamp(RGB(Y_off, CbCr_bicubic))| over every colour sample
    double max_luma_error = 0;    // |Y(on) − Y(clamped off)|, pixels inside the RGB cube only
    double max_chroma_error = 0;  // |CbCr(on) − CbCr(bicubic)|, the same pixels
    double in_gamut = 0;          // the share of those pixels
    double mean_chroma_change = 0;  // mean |CbCr(on) − CbCr(clamped off)| over all pixels: the step did something
    double max_alpha_change = 0;    // |alpha(on) − alpha(off)|
};

Comparison compare(const Image& in, const Image& off, const Image& on) {
    const std::vector<float> a = samples(off), b = samples(on), bic = bicubic_rgb(in, on.width, on.height);
    const int c = on.channels;
    const std::size_t pixels = std::size_t(on.width) * on.height;
    Comparison r;
    std::size_t inside = 0;
    for (std::size_t i = 0; i < pixels; ++i) {
        const float* p_off = &a[i * c];
        const float* p_on = &b[i * c];
        const float* p_bic = &bic[i * 3];
        const Ycc net = to_ycc(clamp_unit(p_off[0]), clamp_unit(p_off[1]), clamp_unit(p_off[2]));
        const Ycc bicubic = to_ycc(p_bic[0], p_bic[1], p_bic[2]);
        const Ycc got = to_ycc(p_on[0], p_on[1], p_on[2]);
        const std::array<double, 3> expected = to_rgb({net[0], bicubic[1], bicubic[2]});
        bool fits = true;
        for (int k = 0; k < 3; ++k) {
            r.max_rgb_error = std::max(r.max_rgb_error, std::abs(p_on[k] - clamp_unit(expected[k])));
            fits = fits && expected[k] >= 0.0 && expected[k] <= 1.0;
        }
        if (fits) {
            ++inside;
            r.max_luma_error = std::max(r.max_luma_error, std::abs(got[0] - net[0]));
            r.max_chroma_error =
                std::max({r.max_chroma_error, std::abs(got[1] - bicubic[1]), std::abs(got[2] - bicubic[2])});
        }
        r.mean_chroma_change += (std::abs(got[1] - net[1]) + std::abs(got[2] - net[2])) / 2;
        if (c == 4) r.max_alpha_change = std::max(r.max_alpha_change, double(std::abs(p_on[3] - p_off[3])));
    }
    r.in_gamut = double(inside) / pixels;
    r.mean_chroma_change /= pixels;
    return r;
}

// The tolerance of the colour checks: OpenCV's conversion constants are BT.601's rounded to three digits (about
// 4e-4 of a sample), plus rounding of the output (and of the option-off output the reference starts from).
double tolerance(SampleType type) {
    const double step = type == SampleType::U8 ? 1.0 / 255 : type == SampleType::U16 ? 1.0 / 65535 : 0.0;
    return 1e-3 + 1.5 * step;
}

class KeepColoursTest : public ::testing::Test {
protected:
    void SetUp() override {
        engine_ = test::cpu_engine(model_);
        ASSERT_TRUE(engine_);
    }
    const Model model_ = Model::random(test::tiny_config(2, AttentionKind::Nala, 2), 31);
    std::unique_ptr<Engine> engine_;
};

TEST_F(KeepColoursTest, LumaFromTheNetworkChromaFromBicubic) {
    for (SampleType type : {SampleType::U8, SampleType::U16, SampleType::F32}) {
        SCOPED_TRACE(sample_type_name(type));
        const Image in = test::random_image(19, 13, 3, type, 5);
        Image off, on;
        UpscaleStats off_stats, on_stats;
        ASSERT_TRUE(engine_->upscale(in, &off, keep_colours(false), &off_stats));
        ASSERT_TRUE(engine_->upscale(in, &on, keep_colours(true), &on_stats));
        ASSERT_EQ(on.width, 38);
        ASSERT_EQ(on.height, 26);
        ASSERT_EQ(on.channels, 3);
        ASSERT_EQ(on.type, type);
        EXPECT_FALSE(has_stage(off_stats, "keep colours"));
        EXPECT_TRUE(has_stage(on_stats, "keep colours"));

        const Comparison r = compare(in, off, on);
        std::printf("%s: max |RGB - expected| %.2e, inside the RGB cube %.0f%%: max |dY| %.2e, max |dCbCr| %.2e; "
                    "mean chroma change %.4f\n",
                    sample_type_name(type), r.max_rgb_error, 100 * r.in_gamut, r.max_luma_error, r.max_chroma_error,
                    r.mean_chroma_change);
        const double tol = tolerance(type);
        EXPECT_LT(r.max_rgb_error, tol + 1e-3);  // RGB amplifies a Cb/Cr difference by up to 1.772
        EXPECT_GT(r.in_gamut, 0.25);             // enough pixels where Y and CbCr can be checked directly
        EXPECT_LT(r.max_luma_error, tol);
        EXPECT_LT(r.max_chroma_error, tol);
        // The step was not skipped: the random network's colours are far from the input's.
        EXPECT_GT(r.mean_chroma_change, 0.02);
    }
}

TEST_F(KeepColoursTest, GreyImagesAreUnchanged) {
    for (int channels : {1, 2}) {
        for (SampleType type : {SampleType::U8, SampleType::U16, SampleType::F32}) {
            SCOPED_TRACE(std::to_string(channels) + " channel(s), " + sample_type_name(type));
            const Image in = test::random_image(11, 9, channels, type, 7);
            Image off, on;
            ASSERT_TRUE(engine_->upscale(in, &off, keep_colours(false), nullptr));
            ASSERT_TRUE(engine_->upscale(in, &on, keep_colours(true), nullptr));
            EXPECT_EQ(on.pixels, off.pixels);
        }
    }
}

TEST_F(KeepColoursTest, AlphaIsUnchanged) {
    for (SampleType type : {SampleType::U8, SampleType::U16, SampleType::F32}) {
        SCOPED_TRACE(sample_type_name(type));
        const Image in = test::random_image(12, 10, 4, type, 9);
        Image off, on;
        ASSERT_TRUE(engine_->upscale(in, &off, keep_colours(false), nullptr));
        ASSERT_TRUE(engine_->upscale(in, &on, keep_colours(true), nullptr));
        const Comparison r = compare(in, off, on);
        EXPECT_EQ(r.max_alpha_change, 0.0);
        EXPECT_LT(r.max_rgb_error, tolerance(type) + 1e-3);
        EXPECT_GT(r.mean_chroma_change, 0.02);
    }
}

// A backend that repeats pixels and tints the result (red down, blue up: a colour shift), taking 8- and 16-bit
// images itself as the CUDA backend does. Counts which entry point ran.
class TintingBackend final : public Backend {
public:
    mutable std::atomic<int> float_calls{0}, sample_calls{0};

    std::string name() const override { return "tinting"; }
    bool converts_samples(SampleType type) const override { return type != SampleType::F32; }
    std::size_t predict_peak_bytes(int, int) const override { return 0; }
    std::size_t available_bytes() const override { return std::size_t(1) << 30; }

    Status forward(const float* rgb, int width, int height, std::vector<float>* out, const ForwardControl&,
                   ForwardStats*) const override {
        ++float_calls;
        tinted(rgb, width, height, out);
        return Status::ok();
    }
    Status forward_samples(const Image& in, Image* out, const ForwardControl&, ForwardStats*) const override {
        ++sample_calls;
        const std::vector<float> rgb = colour_to_rgb(in);
        std::vector<float> floats;
        tinted(rgb.data(), in.width, in.height, &floats);
        const bool has_alpha = in.channels == 2 || in.channels == 4;  // alpha 0: the Engine upscales alpha
        const std::vector<float> alpha(has_alpha ? std::size_t(in.width) * in.height * 4 : 0, 0.0f);
        rgb_to_image(floats, alpha, in.width * 2, in.height * 2, in.channels, in.type, out);
        return Status::ok();
    }

private:
    static void tinted(const float* rgb, int width, int height, std::vector<float>* out) {
        const int out_w = width * 2;
        out->assign(std::size_t(out_w) * height * 2 * 3, 0.0f);
        for (int y = 0; y < height * 2; ++y)
            for (int x = 0; x < out_w; ++x) {
                const float* p = &rgb[(std::size_t(y / 2) * width + x / 2) * 3];
                float* q = &(*out)[(std::size_t(y) * out_w + x) * 3];
                q[0] = 0.8f * p[0];
                q[1] = p[1];
                q[2] = 0.1f + 0.9f * p[2];
            }
    }
};

// On a backend that converts samples itself, the option takes the float path (the step needs float RGB) and
// undoes the backend's tint; without it the backend converts as before.
TEST(KeepColours, RunsWhereTheBackendConvertsSamples) {
    const Model model = Model::random(test::tiny_config(2), 3);
    auto backend = std::make_unique<TintingBackend>();
    const TintingBackend* tinting = backend.get();
    auto engine = make_engine(model.config(), std::move(backend), {});
    for (SampleType type : {SampleType::U8, SampleType::U16}) {
        SCOPED_TRACE(sample_type_name(type));
        const Image in = test::random_image(15, 11, 3, type, 11);
        Image off, on;
        tinting->float_calls = tinting->sample_calls = 0;
        ASSERT_TRUE(engine->upscale(in, &off, keep_colours(false), nullptr));
        EXPECT_EQ(tinting->sample_calls, 1);
        EXPECT_EQ(tinting->float_calls, 0);
        ASSERT_TRUE(engine->upscale(in, &on, keep_colours(true), nullptr));
        EXPECT_EQ(tinting->sample_calls, 1);
        EXPECT_EQ(tinting->float_calls, 1);
        const Comparison r = compare(in, off, on);
        EXPECT_LT(r.max_rgb_error, tolerance(type) + 1e-3);
        EXPECT_GT(r.in_gamut, 0.25);
        EXPECT_LT(r.max_luma_error, tolerance(type));
        EXPECT_LT(r.max_chroma_error, tolerance(type));
        EXPECT_GT(r.mean_chroma_change, 0.02);
    }
}

}  // namespace
}  // namespace nalasr
