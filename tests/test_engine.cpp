// The Engine end to end on the CPU backend with small random-weight models: sample types, channel counts,
// alpha, determinism, progress, cancellation and input validation.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <thread>

#include "nalasr/engine.h"
#include "cpu_engine.h"
#include "progress_log.h"
#include "test_util.h"
#include "tiny_model.h"

namespace nalasr {
namespace {

ModelConfig small_config(int scale, AttentionKind kind = AttentionKind::Nala) {
    return test::tiny_config(scale, kind, /*groups=*/2);
}

// A random image with every sample in the type's range (f32 in [0, 1]).
Image random_image(int w, int h, int channels, SampleType type, std::uint64_t seed) {
    Image image;
    image.width = w;
    image.height = h;
    image.channels = channels;
    image.type = type;
    const std::size_t n = std::size_t(w) * h * channels;
    const auto values = test::random_floats(n, seed, 0.0f, 1.0f);
    const std::size_t size = type == SampleType::U8 ? 1 : type == SampleType::U16 ? 2 : 4;
    image.pixels.resize(n * size);
    for (std::size_t i = 0; i < n; ++i) {
        if (type == SampleType::U8) image.pixels[i] = std::uint8_t(values[i] * 255.0f);
        else if (type == SampleType::U16) {
            const std::uint16_t v = std::uint16_t(values[i] * 65535.0f);
            std::memcpy(&image.pixels[2 * i], &v, 2);
        } else std::memcpy(&image.pixels[4 * i], &values[i], 4);
    }
    return image;
}

float f32_at(const Image& image, std::size_t i) {
    float v;
    std::memcpy(&v, &image.pixels[4 * i], 4);
    return v;
}

TEST(Engine, UpscalesAllSampleTypesAndChannelCounts) {
    for (int scale : {2, 3, 4}) {
        const Model model = Model::random(small_config(scale), 100 + scale);
        auto engine = test::cpu_engine(model);
        ASSERT_TRUE(engine);
        EXPECT_EQ(engine->backend_name(), "cpu");
        struct Case {
            int channels;
            SampleType type;
        };
        for (const Case c : {Case{3, SampleType::U8}, Case{1, SampleType::U16}, Case{4, SampleType::F32},
                             Case{2, SampleType::U8}}) {
            const Image in = random_image(13, 9, c.channels, c.type, 7);
            Image out;
            UpscaleStats stats;
            const Status st = engine->upscale(in, &out, {}, &stats);
            ASSERT_TRUE(st) << st.message();
            EXPECT_EQ(out.width, 13 * scale);
            EXPECT_EQ(out.height, 9 * scale);
            EXPECT_EQ(out.channels, c.channels);
            EXPECT_EQ(out.type, c.type);
            EXPECT_EQ(out.pixels.size(), std::size_t(out.width) * out.height * c.channels * sample_size(c.type));
            EXPECT_EQ(stats.tokens, 117u);
            EXPECT_EQ(stats.backend, "cpu");
            EXPECT_GT(stats.planned_peak_bytes, 0u);
            EXPECT_GT(stats.observed_peak_bytes, 0u);
            EXPECT_GT(stats.peak_host_rss_bytes, 0u);
            bool has_network_stage = false;
            for (const auto& stage : stats.stages) has_network_stage |= stage.stage == "network";
            EXPECT_TRUE(has_network_stage);
            if (c.type == SampleType::F32) {
                const std::size_t n = std::size_t(out.width) * out.height;
                for (std::size_t i = 0; i < n * 4; ++i) ASSERT_TRUE(std::isfinite(f32_at(out, i)));
                for (std::size_t i = 0; i < n; ++i) {  // alpha clamped to [0, 1]
                    ASSERT_GE(f32_at(out, i * 4 + 3), 0.0f);
                    ASSERT_LE(f32_at(out, i * 4 + 3), 1.0f);
                }
            }
        }
    }
}

TEST(Engine, ConstantAlphaStaysConstant) {
    const Model model = Model::random(small_config(2), 1);
    auto engine = test::cpu_engine(model);
    Image in = random_image(11, 7, 4, SampleType::U8, 3);
    for (std::size_t i = 3; i < in.pixels.size(); i += 4) in.pixels[i] = 128;
    Image out;
    ASSERT_TRUE(engine->upscale(in, &out, {}, nullptr));
    for (std::size_t i = 3; i < out.pixels.size(); i += 4) ASSERT_EQ(out.pixels[i], 128);
}

// Grey goes through the network as R = G = B and comes back as the mean of the output channels.
TEST(Engine, GreyMatchesNetworkMean) {
    const Model model = Model::random(small_config(2), 2);
    auto engine = test::cpu_engine(model);
    const Image in = random_image(9, 6, 1, SampleType::F32, 4);
    std::vector<float> rgb(9 * 6 * 3);
    for (std::size_t i = 0; i < 54; ++i) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = f32_at(in, i);
    std::vector<float> net;
    ASSERT_TRUE(engine->run_network(rgb.data(), 9, 6, &net, {}, nullptr));
    Image out;
    ASSERT_TRUE(engine->upscale(in, &out, {}, nullptr));
    double max_diff = 0;
    for (std::size_t i = 0; i < net.size() / 3; ++i) {
        const double mean = (net[3 * i] + net[3 * i + 1] + net[3 * i + 2]) / 3.0;
        max_diff = std::max(max_diff, std::abs(double(f32_at(out, i)) - mean));
    }
    EXPECT_LT(max_diff, 1e-6);
}

TEST(Engine, RunsAreBitIdentical) {
    for (AttentionKind kind : {AttentionKind::Nala, AttentionKind::Pola, AttentionKind::Softmax}) {
        const Model model = Model::random(small_config(3, kind), 5);
        auto engine = test::cpu_engine(model);
        const Image in = random_image(13, 9, 3, SampleType::F32, 8);
        Image a, b;
        ASSERT_TRUE(engine->upscale(in, &a, {}, nullptr));
        ASSERT_TRUE(engine->upscale(in, &b, {}, nullptr));
        EXPECT_EQ(a.pixels, b.pixels) << attention_kind_name(kind);
    }
}

// upscale() is const and thread-safe: concurrent calls on one engine give the single-threaded result.
TEST(Engine, ConcurrentCallsMatchSerial) {
    const Model model = Model::random(small_config(2), 10);
    auto engine = test::cpu_engine(model);
    const Image in = random_image(17, 11, 3, SampleType::U16, 5);
    Image serial;
    ASSERT_TRUE(engine->upscale(in, &serial, {}, nullptr));
    Image results[3];
    std::vector<std::thread> threads;
    for (Image& r : results) threads.emplace_back([&] { EXPECT_TRUE(engine->upscale(in, &r, {}, nullptr)); });
    for (auto& t : threads) t.join();
    for (const Image& r : results) EXPECT_EQ(r.pixels, serial.pixels);
}

// The thread count changes only the speed: linear-attention sums are chunked by N, not by thread.
TEST(Engine, OneThreadMatchesAllThreads) {
    const Model model = Model::random(small_config(2), 12);
    auto all = test::cpu_engine(model);
    EngineParams params;
    params.backend = BackendKind::Cpu;
    params.cpu_threads = 1;
    std::unique_ptr<Engine> one;
    ASSERT_TRUE(Engine::create(model, params, &one));
    const auto rgb = test::random_floats(40 * 50 * 3, 13, 0.0f, 1.0f);
    std::vector<float> a, b;
    ASSERT_TRUE(all->run_network(rgb.data(), 50, 40, &a, {}, nullptr));
    ASSERT_TRUE(one->run_network(rgb.data(), 50, 40, &b, {}, nullptr));
    const double err = test::rel_l2(b, a);
    test::print_error("1 thread vs all threads", err);
    EXPECT_LE(err, 1e-6);
}

TEST(Engine, ProgressIsMonotonicAndCancelStops) {
    const Model model = Model::random(small_config(2), 6);
    auto engine = test::cpu_engine(model);
    const Image in = random_image(13, 9, 3, SampleType::U8, 9);

    test::ProgressLog log;
    UpscaleParams params;
    log.attach(params);
    Image out;
    ASSERT_TRUE(engine->upscale(in, &out, params, nullptr));
    log.expect_monotonic_to_one();
    EXPECT_EQ(log.network_stages(), std::vector<std::string>{"network"});

    int polls = 0;
    params.progress = nullptr;
    params.should_abort = [&] { return ++polls >= 2; };  // cancel at the first poll between blocks
    Image cancelled;
    const Status st = engine->upscale(in, &cancelled, params, nullptr);
    EXPECT_EQ(st.code(), StatusCode::Cancelled) << st.message();
    EXPECT_TRUE(cancelled.empty());
}

TEST(Engine, RejectsBadInput) {
    const Model model = Model::random(small_config(2), 7);
    auto engine = test::cpu_engine(model);
    Image out;
    Image empty;
    EXPECT_EQ(engine->upscale(empty, &out, {}, nullptr).code(), StatusCode::InvalidArgument);
    Image five = random_image(4, 4, 3, SampleType::U8, 1);
    five.channels = 5;
    EXPECT_EQ(engine->upscale(five, &out, {}, nullptr).code(), StatusCode::InvalidArgument);
    Image short_buffer = random_image(4, 4, 3, SampleType::U16, 1);
    short_buffer.pixels.pop_back();
    EXPECT_EQ(engine->upscale(short_buffer, &out, {}, nullptr).code(), StatusCode::InvalidArgument);
    Image nan = random_image(4, 4, 3, SampleType::F32, 1);
    const float q = std::nanf("");
    std::memcpy(&nan.pixels[8], &q, 4);
    EXPECT_EQ(engine->upscale(nan, &out, {}, nullptr).code(), StatusCode::InvalidArgument);
    std::vector<float> net;
    const float pixel[3] = {0.5f, 0.5f, 0.5f};
    EXPECT_EQ(engine->run_network(pixel, 1 << 20, 1 << 20, &net, {}, nullptr).code(), StatusCode::InvalidArgument);
    EXPECT_EQ(engine->run_network(nullptr, 4, 4, &net, {}, nullptr).code(), StatusCode::InvalidArgument);
}

// Softmax's N×N scores for a 1000×1000 input need 4 TB: refused before allocating, with the size that fits.
TEST(Engine, RefusesWhatDoesNotFitWithLargestSize) {
    const Model model = Model::random(small_config(2, AttentionKind::Softmax), 8);
    auto engine = test::cpu_engine(model);
    const Image in = random_image(1000, 1000, 3, SampleType::U8, 2);
    Image out;
    const Status st = engine->upscale(in, &out, {}, nullptr);
    EXPECT_EQ(st.code(), StatusCode::OutOfMemory);
    EXPECT_NE(st.message().find("largest square input that fits is about"), std::string::npos) << st.message();
    std::printf("  [message] %s\n", st.message().c_str());
}

TEST(Engine, CreateChecksModelAndBackend) {
    Model model = Model::random(small_config(2), 9);
    model.mutable_config().attention = AttentionKind::Pola;  // nala weights lack Pola's tensors
    EngineParams params;
    params.backend = BackendKind::Cpu;
    std::unique_ptr<Engine> engine;
    EXPECT_EQ(Engine::create(model, params, &engine).code(), StatusCode::ModelMismatch);

    model.mutable_config().attention = AttentionKind::Softmax;  // a NaLa model's weights load as softmax
    EXPECT_TRUE(Engine::create(model, params, &engine));

    params.backend = BackendKind::Auto;
    ASSERT_TRUE(Engine::create(model, params, &engine));
    if (!cuda_compiled() || list_gpus().empty()) EXPECT_EQ(engine->backend_name(), "cpu");
    if (!cuda_compiled()) {
        params.backend = BackendKind::Cuda;
        EXPECT_EQ(Engine::create(model, params, &engine).code(), StatusCode::BackendUnavailable);
    }

    BackendKind kind;
    EXPECT_TRUE(parse_backend_kind("cuda", &kind));
    EXPECT_EQ(kind, BackendKind::Cuda);
    EXPECT_FALSE(parse_backend_kind("gpu", &kind));
    EXPECT_FALSE(version_string().empty());
}

}  // namespace
}  // namespace nalasr
