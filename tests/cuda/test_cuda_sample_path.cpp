// The CUDA backend's integer-sample path (forward_samples: 8/16-bit samples up, conversions on the GPU, samples
// down through pinned staging) end to end: bit-identical to the float path plus the host conversion, the
// engine's output against the CPU engine, stats, the memory plan, cancellation, concurrent callers and the
// pageable fallback for outputs larger than the staging buffers.
#include <cstring>
#include <thread>

#include "backend.h"
#include "cuda/pinned_staging.h"
#include "cuda_test_util.h"
#include "nalasr/engine.h"
#include "nalasr/model.h"
#include "sample_convert.h"

namespace nalasr::test {
namespace {

constexpr std::size_t kMiB = std::size_t(1) << 20;

ModelConfig config(AttentionKind kind, int C, int heads, int groups, int blocks, int scale) {
    ModelConfig c;
    c.channels = C, c.heads = heads, c.groups = groups, c.blocks = blocks, c.scale = scale, c.attention = kind;
    return c;
}

Image random_image(int width, int height, int channels, SampleType type, std::uint64_t seed) {
    Image image;
    image.allocate(width, height, channels, type);
    const std::vector<float> v = random_floats(image.pixels.size() / sample_size(type), seed, 0.0f, 1.0f);
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (type == SampleType::U8) image.pixels[i] = std::uint8_t(v[i] * 255.0f);
        else if (type == SampleType::U16) {
            const std::uint16_t s = std::uint16_t(v[i] * 65535.0f);
            std::memcpy(image.pixels.data() + 2 * i, &s, 2);
        } else {
            std::memcpy(image.pixels.data() + 4 * i, &v[i], 4);
        }
    }
    return image;
}

// What the float path makes of the same image on the same backend: host conversion in, forward(), host
// conversion out (alpha 0, as forward_samples leaves it).
Image float_path(const Backend& gpu, const Image& in, int scale) {
    const std::vector<float> rgb = colour_to_rgb(in);
    std::vector<float> out;
    const Status st = gpu.forward(rgb.data(), in.width, in.height, &out, {}, nullptr);
    EXPECT_TRUE(st.is_ok()) << st.message();
    const int w = in.width * scale, h = in.height * scale;
    Image image;
    rgb_to_image(out, std::vector<float>(std::size_t(w) * h, 0.0f), w, h, in.channels, in.type, &image);
    return image;
}

double stage_ms(const std::vector<StageTime>& stages, const std::string& name, bool* found) {
    for (const StageTime& t : stages)
        if (t.stage == name) {
            *found = true;
            return t.ms;
        }
    *found = false;
    return 0;
}

// PSNR of the colour channels of two 8-bit images of the same geometry.
double psnr_colour_8bit(const Image& a, const Image& b) {
    const int colour = a.channels >= 3 ? 3 : 1;
    double se = 0;
    std::size_t n = 0;
    for (std::size_t i = 0; i < a.pixels.size(); ++i) {
        if (int(i % std::size_t(a.channels)) >= colour) continue;
        const double d = double(a.pixels[i]) - double(b.pixels[i]);
        se += d * d, ++n;
    }
    return se == 0 ? 99.0 : 10.0 * std::log10(255.0 * 255.0 * double(n) / se);
}

bool alpha_equal(const Image& a, const Image& b) {
    if (!a.has_alpha()) return true;
    const std::size_t sample = sample_size(a.type), stride = std::size_t(a.channels) * sample;
    for (std::size_t i = (a.channels - 1) * sample; i < a.pixels.size(); i += stride)
        if (std::memcmp(a.pixels.data() + i, b.pixels.data() + i, sample) != 0) return false;
    return true;
}

std::unique_ptr<Engine> make_engine(const Model& model, BackendKind kind) {
    EngineParams params;
    params.backend = kind;
    std::unique_ptr<Engine> engine;
    const Status st = Engine::create(model, params, &engine);
    EXPECT_TRUE(st.is_ok()) << st.message();
    return engine;
}

struct Format {
    int channels;
    SampleType type;
};
constexpr Format kFormats[] = {{3, SampleType::U8}, {4, SampleType::U8}, {1, SampleType::U8}, {2, SampleType::U8},
                               {3, SampleType::U16}, {4, SampleType::U16}, {1, SampleType::U16}};

TEST(CudaSamplePath, ForwardSamplesIsTheFloatPathBitForBit) {
    NALASR_SKIP_WITHOUT_GPU();
    const ModelConfig cfg = config(AttentionKind::Nala, 32, 4, 2, 1, 3);
    const Model model = Model::random(cfg, 21);
    std::unique_ptr<Backend> gpu;
    ASSERT_TRUE(create_cuda_backend(model, 0, &gpu).is_ok());
    EXPECT_TRUE(gpu->converts_samples(SampleType::U8));
    EXPECT_TRUE(gpu->converts_samples(SampleType::U16));
    EXPECT_FALSE(gpu->converts_samples(SampleType::F32));
    for (const Format f : kFormats) {
        const Image in = random_image(37, 29, f.channels, f.type, std::uint64_t(10 * f.channels) + int(f.type));
        const Image want = float_path(*gpu, in, cfg.scale);
        Image got;
        ForwardStats stats;
        const Status st = gpu->forward_samples(in, &got, {}, &stats);
        ASSERT_TRUE(st.is_ok()) << st.message();
        ASSERT_EQ(got.width, 37 * 3);
        ASSERT_EQ(got.height, 29 * 3);
        ASSERT_EQ(got.channels, f.channels);
        ASSERT_EQ(got.type, f.type);
        EXPECT_EQ(got.pixels, want.pixels) << f.channels << " channels, " << sample_type_name(f.type);
        EXPECT_EQ(stats.planned_peak_bytes, gpu->predict_peak_bytes(37, 29));
        for (const char* name : {"wait", "upload", "network", "download"}) {
            bool found = false;
            EXPECT_GE(stage_ms(stats.stages, name, &found), 0.0);
            EXPECT_TRUE(found) << name;
        }
    }
}

// The engine on CUDA (samples converted on the GPU) against the engine on the CPU (converted on the host):
// colour within the end-to-end bound, alpha (bicubic on the host in both) identical; and against the CUDA
// float path of the same image, identical.
TEST(CudaSamplePath, EngineUpscaleMatchesCpuEngineAndTheFloatPath) {
    NALASR_SKIP_WITHOUT_GPU();
    const ModelConfig cfg = config(AttentionKind::Nala, 64, 4, 1, 2, 4);
    const Model model = Model::random(cfg, 31);
    auto gpu_engine = make_engine(model, BackendKind::Cuda);
    auto cpu_engine = make_engine(model, BackendKind::Cpu);
    ASSERT_TRUE(gpu_engine && cpu_engine);
    std::unique_ptr<Backend> gpu;
    ASSERT_TRUE(create_cuda_backend(model, 0, &gpu).is_ok());
    for (const Format f : kFormats) {
        if (f.type != SampleType::U8) continue;
        const Image in = random_image(41, 23, f.channels, f.type, std::uint64_t(f.channels));
        Image got, want_cpu;
        UpscaleStats stats;
        ASSERT_TRUE(gpu_engine->upscale(in, &got, {}, &stats).is_ok());
        ASSERT_TRUE(cpu_engine->upscale(in, &want_cpu, {}, nullptr).is_ok());
        const double psnr = psnr_colour_8bit(got, want_cpu);
        std::printf("  [e2e] engine u8 %d channels 41x23 x4: PSNR(colour) vs CPU %.2f dB\n", f.channels, psnr);
        EXPECT_GE(psnr, kMinPsnr8Bit) << f.channels << " channels";
        EXPECT_TRUE(alpha_equal(got, want_cpu)) << f.channels << " channels";

        // The old path on the same GPU: float forward + host conversion, alpha from the CPU engine (identical).
        Image old_path = float_path(*gpu, in, cfg.scale);
        if (in.has_alpha())
            for (std::size_t i = std::size_t(f.channels - 1); i < old_path.pixels.size(); i += std::size_t(f.channels))
                old_path.pixels[i] = want_cpu.pixels[i];
        EXPECT_EQ(got.pixels, old_path.pixels) << f.channels << " channels";
    }
}

// The stages of an engine call on the GPU path are disjoint parts of it and cover most of it.
TEST(CudaSamplePath, EngineStagesAddUpToTheCall) {
    NALASR_SKIP_WITHOUT_GPU();
    const Model model = Model::random(config(AttentionKind::Nala, 32, 4, 1, 2, 4), 41);
    auto engine = make_engine(model, BackendKind::Cuda);
    ASSERT_TRUE(engine);
    const Image in = random_image(512, 384, 3, SampleType::U8, 5);
    Image out;
    UpscaleStats stats;
    ASSERT_TRUE(engine->upscale(in, &out, {}, &stats).is_ok());  // allocates the arena, captures the graph
    ASSERT_TRUE(engine->upscale(in, &out, {}, &stats).is_ok());
    double sum = 0;
    std::printf("  [stages] 512x384 u8 x4:");
    for (const StageTime& t : stats.stages) {
        std::printf(" %s %.3f", t.stage.c_str(), t.ms);
        sum += t.ms;
    }
    std::printf(" | sum %.3f of %.3f ms\n", sum, stats.total_ms);
    for (const char* name : {"prepare", "wait", "upload", "network", "download", "convert"}) {
        bool found = false;
        stage_ms(stats.stages, name, &found);
        EXPECT_TRUE(found) << name;
    }
    EXPECT_LE(sum, stats.total_ms * 1.01 + 0.05);
    EXPECT_GE(sum, stats.total_ms * 0.7);
}

// The planner's peak against the device memory taken, within 5 %, on the sample path (16-bit RGBA: the widest
// sample buffers) at the size the float-path test uses.
TEST(CudaSamplePath, ObservedPeakMatchesThePlanWithin5Percent) {
    NALASR_SKIP_WITHOUT_GPU();
    const Model model = Model::random(config(AttentionKind::Nala, 64, 4, 4, 4, 4), 11);
    std::unique_ptr<Backend> gpu;
    ASSERT_TRUE(create_cuda_backend(model, 0, &gpu).is_ok());
    const Image in = random_image(265, 265, 4, SampleType::U16, 17);
    Image out;
    ForwardStats stats;
    ASSERT_TRUE(gpu->forward_samples(in, &out, {}, &stats).is_ok());
    const double planned = double(stats.planned_peak_bytes), observed = double(stats.observed_peak_bytes);
    std::printf("  [peak] samples 265x265 u16 RGBA planned %.2f MiB, observed %.2f MiB (%+.2f %%)\n",
                planned / kMiB, observed / kMiB, 100.0 * (observed / planned - 1.0));
    EXPECT_EQ(stats.planned_peak_bytes, gpu->predict_peak_bytes(265, 265));
    EXPECT_NEAR(observed, planned, 0.05 * planned);
}

TEST(CudaSamplePath, CancelStopsBetweenBlocksAndProgressIsReported) {
    NALASR_SKIP_WITHOUT_GPU();
    const Model model = Model::random(config(AttentionKind::Nala, 32, 4, 2, 2, 2), 9);
    std::unique_ptr<Backend> gpu;
    ASSERT_TRUE(create_cuda_backend(model, 0, &gpu).is_ok());
    const Image in = random_image(20, 20, 3, SampleType::U8, 2);
    std::vector<double> fractions;
    ForwardControl control;
    control.report = [&](double f) { fractions.push_back(f); };
    control.cancelled = [&] { return fractions.size() >= 2; };
    Image out;
    EXPECT_EQ(gpu->forward_samples(in, &out, control, nullptr).code(), StatusCode::Cancelled);
    EXPECT_EQ(fractions.size(), 2u);
    control.cancelled = nullptr;
    fractions.clear();
    ASSERT_TRUE(gpu->forward_samples(in, &out, control, nullptr).is_ok());
    ASSERT_EQ(fractions.size(), 4u);
    EXPECT_DOUBLE_EQ(fractions.back(), 1.0);
    // Block by block (no CUDA graph) gives what the graph gives.
    Image plain;
    ASSERT_TRUE(gpu->forward_samples(in, &plain, {}, nullptr).is_ok());
    EXPECT_EQ(out.pixels, plain.pixels);
}

// Several threads on one engine (as `nalasr upscale -j N` or the GUI may do): each result is what a lone call
// gives, across two sizes (the arena is replaced between them) and both paths (u8 on the GPU, f32 on the host).
TEST(CudaSamplePath, ConcurrentCallsGiveTheSameResultsAsLoneCalls) {
    NALASR_SKIP_WITHOUT_GPU();
    const Model model = Model::random(config(AttentionKind::Nala, 32, 4, 1, 2, 2), 13);
    auto engine = make_engine(model, BackendKind::Cuda);
    ASSERT_TRUE(engine);
    std::vector<Image> inputs;
    for (int i = 0; i < 6; ++i)
        inputs.push_back(random_image(i % 2 ? 45 : 30, i % 2 ? 21 : 33, i % 3 == 2 ? 4 : 3,
                                      i == 5 ? SampleType::F32 : SampleType::U8, std::uint64_t(100 + i)));
    std::vector<Image> want(inputs.size());
    for (std::size_t i = 0; i < inputs.size(); ++i) ASSERT_TRUE(engine->upscale(inputs[i], &want[i], {}, nullptr));

    constexpr int kThreads = 4, kRounds = 3;
    std::vector<int> mismatches(kThreads, 0), failures(kThreads, 0);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            for (int r = 0; r < kRounds; ++r)
                for (std::size_t k = 0; k < inputs.size(); ++k) {
                    const std::size_t i = (k + std::size_t(t)) % inputs.size();
                    Image got;
                    if (!engine->upscale(inputs[i], &got, {}, nullptr)) ++failures[std::size_t(t)];
                    else if (got.pixels != want[i].pixels) ++mismatches[std::size_t(t)];
                }
        });
    for (std::thread& t : threads) t.join();
    for (int t = 0; t < kThreads; ++t) {
        EXPECT_EQ(failures[std::size_t(t)], 0) << "thread " << t;
        EXPECT_EQ(mismatches[std::size_t(t)], 0) << "thread " << t;
    }
}

// An output larger than a staging buffer goes straight to pageable memory, with the same result.
TEST(CudaSamplePath, OutputsLargerThanTheStagingBuffersTakeThePageablePath) {
    NALASR_SKIP_WITHOUT_GPU();
    const ModelConfig cfg = config(AttentionKind::Nala, 16, 4, 1, 1, 4);
    const Model model = Model::random(cfg, 7);
    std::unique_ptr<Backend> gpu;
    ASSERT_TRUE(create_cuda_backend(model, 0, &gpu).is_ok());
    const Image in = random_image(1024, 768, 3, SampleType::U16, 3);  // 4096×3072×3×2 bytes out
    ASSERT_GT(std::size_t(4096) * 3072 * 3 * 2, cuda::StagingPool::kMaxBytes);
    Image got;
    ASSERT_TRUE(gpu->forward_samples(in, &got, {}, nullptr).is_ok());
    EXPECT_TRUE(got.pixels == float_path(*gpu, in, cfg.scale).pixels);
}

TEST(CudaSamplePath, BadArgumentsAreStatusErrors) {
    NALASR_SKIP_WITHOUT_GPU();
    const Model model = Model::random(config(AttentionKind::Nala, 16, 4, 1, 1, 2), 4);
    std::unique_ptr<Backend> gpu;
    ASSERT_TRUE(create_cuda_backend(model, 0, &gpu).is_ok());
    Image out;
    EXPECT_EQ(gpu->forward_samples(random_image(4, 4, 3, SampleType::F32, 1), &out, {}, nullptr).code(),
              StatusCode::InvalidArgument);
    Image short_buffer = random_image(4, 4, 3, SampleType::U8, 1);
    short_buffer.pixels.pop_back();
    EXPECT_EQ(gpu->forward_samples(short_buffer, &out, {}, nullptr).code(), StatusCode::InvalidArgument);
    EXPECT_EQ(gpu->forward_samples(Image(), &out, {}, nullptr).code(), StatusCode::InvalidArgument);
    EXPECT_EQ(gpu->forward_samples(random_image(4, 4, 3, SampleType::U8, 1), nullptr, {}, nullptr).code(),
              StatusCode::InvalidArgument);
}

}  // namespace
}  // namespace nalasr::test
