// TTA (UpscaleParams::tta) on the CUDA backend, which runs it on the GPU (ForwardControl::tta): its kernels against
// the host transforms (bit-identical), its TTA against the host's run_tta around its own plain passes, its 8- and
// 16-bit samples through the GPU conversion against its float result converted on the host (bit-identical), and the
// engine's result against the CPU engine's TTA within the CUDA-vs-CPU bound of the other end-to-end tests
// (kMinPsnr8Bit). The images are not square, so a wrong transform or inverse of the rotated passes shows. Skips
// without a GPU.
#include <algorithm>
#include <cstring>
#include <string>
#include <utility>

#include "../cpu_engine.h"
#include "../progress_log.h"
#include "../random_image.h"
#include "../tiny_model.h"
#include "backend.h"
#include "cuda_test_util.h"
#include "dihedral.cuh"
#include "nalasr/engine.h"
#include "sample_convert.h"
#include "tta.h"

namespace nalasr::test {
namespace {

constexpr int kWidth = 29, kHeight = 17;  // not square: the rotated passes run 17×29

std::unique_ptr<Engine> cuda_engine(const Model& model) {
    EngineParams params;
    params.backend = BackendKind::Cuda;
    std::unique_ptr<Engine> engine;
    const Status st = Engine::create(model, params, &engine);
    EXPECT_TRUE(st) << st.message();
    return engine;
}

std::unique_ptr<Backend> cuda_backend(const Model& model) {
    std::unique_ptr<Backend> backend;
    const Status st = create_cuda_backend(model, 0, &backend);
    EXPECT_TRUE(st) << st.message();
    return backend;
}

// 8- or 16-bit samples as floats in [0, 1]: psnr_8bit compares them at 8 bits.
std::vector<float> unit_samples(const Image& image) {
    std::vector<float> v(image.pixels.size() / sample_size(image.type));
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (image.type == SampleType::U8) {
            v[i] = image.pixels[i] / 255.0f;
        } else {
            std::uint16_t s = 0;
            std::memcpy(&s, image.pixels.data() + 2 * i, 2);
            v[i] = s / 65535.0f;
        }
    }
    return v;
}

float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
    float d = 0.0f;
    for (std::size_t i = 0; i < a.size(); ++i) d = std::max(d, std::abs(a[i] - b[i]));
    return d;
}

bool has_stage(const std::vector<StageTime>& stages, const std::string& name) {
    return std::any_of(stages.begin(), stages.end(), [&](const StageTime& s) { return s.stage == name; });
}

ForwardControl tta_control() {
    ForwardControl control;
    control.tta = true;
    return control;
}

TEST(CudaTta, KernelsMatchTheHostTransforms) {
    NALASR_SKIP_WITHOUT_GPU();
    const int s = 3, out_w = kWidth * s, out_h = kHeight * s;
    const std::vector<float> image = random_floats(std::size_t(kWidth) * kHeight * 3, 3);
    const std::vector<float> start = random_floats(std::size_t(out_w) * out_h * 3, 4);
    DeviceArray<float> d_image(image), d_turned(image.size()), d_output(start.size()), d_sum(start);
    std::vector<float> sum = start;
    for (int t = 0; t < kDihedralTransforms; ++t) {
        std::vector<float> turned;
        dihedral_transform(image.data(), kWidth, kHeight, t, &turned);
        ASSERT_EQ(kernels::dihedral_transform(d_image.get(), kWidth, kHeight, t, d_turned.get(), nullptr),
                  cudaSuccess);
        EXPECT_EQ(d_turned.download(), turned) << "transform " << t;

        // A pass's output in transform t's orientation, added turned back.
        const std::vector<float> output = random_floats(start.size(), 10 + t);
        d_output.upload(output);
        add_inverse_dihedral(output, out_w, out_h, t, &sum);
        ASSERT_EQ(kernels::add_inverse_dihedral(d_output.get(), out_w, out_h, t, d_sum.get(), nullptr), cudaSuccess);
        EXPECT_EQ(d_sum.download(), sum) << "inverse of transform " << t;
    }
    for (float& v : sum) v *= 1.0f / kDihedralTransforms;
    ASSERT_EQ(kernels::scale_values(d_sum.get(), std::int64_t(sum.size()), 1.0f / kDihedralTransforms, nullptr),
              cudaSuccess);
    EXPECT_EQ(d_sum.download(), sum);
}

// The backend's own TTA is the host's run_tta around its plain passes: the same passes, turned and added in the same
// order. Only the network's nondeterminism, if any, may tell them apart; a wrong transform would differ by far more.
TEST(CudaTta, BackendTtaIsTheHostTtaOfItsPasses) {
    NALASR_SKIP_WITHOUT_GPU();
    const Model model = Model::random(tiny_config(3, AttentionKind::Nala, 2), 23);
    const std::unique_ptr<Backend> gpu = cuda_backend(model);
    ASSERT_TRUE(gpu);
    ASSERT_TRUE(gpu->runs_tta());
    const std::vector<float> rgb = random_floats(std::size_t(kWidth) * kHeight * 3, 11, 0.0f, 1.0f);
    std::vector<float> got, want, plain;
    ForwardStats stats;
    ASSERT_TRUE(gpu->forward(rgb.data(), kWidth, kHeight, &got, tta_control(), &stats));
    ASSERT_TRUE(run_tta_on_host(*gpu, rgb.data(), kWidth, kHeight, 3, &want, {}));
    ASSERT_TRUE(gpu->forward(rgb.data(), kWidth, kHeight, &plain, {}, nullptr));
    ASSERT_EQ(got.size(), want.size());
    const float diff = max_abs_diff(got, want), plain_diff = max_abs_diff(plain, want);
    std::printf("  [tta] GPU TTA vs host TTA of the GPU's passes: max |diff| %.3e (plain pass: %.3e)\n", diff,
                plain_diff);
    EXPECT_LE(diff, 1e-6f);  // expected 0
    EXPECT_GT(plain_diff, 1e-3f);

    EXPECT_TRUE(has_stage(stats.stages, "tta"));
    // One pass of the larger orientation, plus the input and the accumulator the passes share on the device.
    EXPECT_EQ(stats.planned_peak_bytes,
              std::max(gpu->predict_peak_bytes(kWidth, kHeight), gpu->predict_peak_bytes(kHeight, kWidth)) +
                  tta_buffer_bytes(kWidth, kHeight, model.config().scale));
    EXPECT_TRUE(stats.output_checked);
    EXPECT_EQ(stats.non_finite_outputs, 0u);

    std::vector<float> again;  // deterministic: the passes are always added in the same order
    ASSERT_TRUE(gpu->forward(rgb.data(), kWidth, kHeight, &again, tta_control(), nullptr));
    EXPECT_EQ(again, got);
}

// 8- and 16-bit images with TTA keep the GPU's sample conversion: bit-identical to the backend's float TTA result
// converted on the host (alpha 0, as forward_samples leaves it).
TEST(CudaTta, SamplesGoThroughTheGpuConversion) {
    NALASR_SKIP_WITHOUT_GPU();
    const int s = 2;
    const Model model = Model::random(tiny_config(s, AttentionKind::Nala, 2), 29);
    const std::unique_ptr<Backend> gpu = cuda_backend(model);
    ASSERT_TRUE(gpu);
    const std::pair<int, SampleType> formats[] = {
        {3, SampleType::U8}, {4, SampleType::U8}, {1, SampleType::U16}, {4, SampleType::U16}};
    for (const auto& [channels, type] : formats) {
        const Image in = random_image(kWidth, kHeight, channels, type, 31 + channels);
        Image got;
        ForwardStats stats;
        ASSERT_TRUE(gpu->forward_samples(in, &got, tta_control(), &stats));
        std::vector<float> rgb;
        ASSERT_TRUE(gpu->forward(colour_to_rgb(in).data(), kWidth, kHeight, &rgb, tta_control(), nullptr));
        const int w = kWidth * s, h = kHeight * s;
        Image want;
        rgb_to_image(rgb, std::vector<float>(std::size_t(w) * h, 0.0f), w, h, channels, type, &want);
        EXPECT_EQ(got.width, w);
        EXPECT_EQ(got.height, h);
        EXPECT_TRUE(got.pixels == want.pixels) << channels << " channels, " << sample_size(type) * 8 << "-bit";
        EXPECT_TRUE(has_stage(stats.stages, "tta"));
    }
}

TEST(CudaTta, MatchesCpuTta) {
    NALASR_SKIP_WITHOUT_GPU();
    const Model model = Model::random(tiny_config(3, AttentionKind::Nala, 2), 23);
    const std::unique_ptr<Engine> gpu = cuda_engine(model), cpu = cpu_engine(model);
    ASSERT_TRUE(gpu && cpu);
    UpscaleParams tta;
    tta.tta = true;

    const std::vector<float> rgb = random_floats(std::size_t(kWidth) * kHeight * 3, 11, 0.0f, 1.0f);
    std::vector<float> got, want;
    UpscaleStats stats;
    ASSERT_TRUE(gpu->run_network(rgb.data(), kWidth, kHeight, &got, tta, &stats));
    ASSERT_TRUE(cpu->run_network(rgb.data(), kWidth, kHeight, &want, tta, nullptr));
    ASSERT_EQ(got.size(), want.size());
    const double psnr = psnr_8bit(got, want);
    std::printf("  [tta] run_network 29x17 x3: PSNR(8-bit) CUDA vs CPU %.2f dB, float NMSE %.3e\n", psnr,
                nmse(got, want));
    EXPECT_GE(psnr, kMinPsnr8Bit);
    EXPECT_EQ(stats.planned_peak_bytes, gpu->predict_upscale_peak_bytes(kWidth, kHeight, tta));
    EXPECT_TRUE(has_stage(stats.stages, "tta"));

    // 8- and 16-bit images through upscale(), which keeps the GPU's sample conversion with TTA.
    for (SampleType type : {SampleType::U8, SampleType::U16}) {
        const Image in = random_image(kWidth, kHeight, 4, type, 13);
        Image gpu_out, cpu_out, gpu_plain;
        ASSERT_TRUE(gpu->upscale(in, &gpu_out, tta, nullptr));
        ASSERT_TRUE(cpu->upscale(in, &cpu_out, tta, nullptr));
        ASSERT_TRUE(gpu->upscale(in, &gpu_plain, {}, nullptr));
        const double psnr_tta = psnr_8bit(unit_samples(gpu_out), unit_samples(cpu_out)),
                     psnr_plain = psnr_8bit(unit_samples(gpu_plain), unit_samples(cpu_out));
        std::printf("  [tta] upscale %d-bit RGBA 29x17 x3: PSNR CUDA vs CPU %.2f dB (CUDA without TTA: %.2f dB)\n",
                    int(sample_size(type)) * 8, psnr_tta, psnr_plain);
        EXPECT_GE(psnr_tta, kMinPsnr8Bit);
        EXPECT_LT(psnr_plain, psnr_tta);  // the TTA did happen
    }
}

// Progress spans the 8 passes, each under its own stage name, as on the host; cancelling stops between passes.
TEST(CudaTta, ProgressNamesThePassesAndCancelStops) {
    NALASR_SKIP_WITHOUT_GPU();
    const Model model = Model::random(tiny_config(2, AttentionKind::Nala, 2), 5);
    const std::unique_ptr<Engine> gpu = cuda_engine(model);
    ASSERT_TRUE(gpu);
    const Image in = random_image(kWidth, kHeight, 3, SampleType::U8, 3);
    ProgressLog log;
    UpscaleParams params;
    params.tta = true;
    log.attach(params);
    Image out;
    ASSERT_TRUE(gpu->upscale(in, &out, params, nullptr));
    log.expect_monotonic_to_one();
    log.expect_tta_passes();

    // Abort once the third pass has reported: Cancelled, the output untouched.
    const auto& reports = log.reports;
    log.reports.clear();
    params.should_abort = [&] {
        return std::any_of(reports.begin(), reports.end(),
                           [](const auto& r) { return r.second == std::string("network (TTA 3/8)"); });
    };
    Image untouched = random_image(3, 3, 1, SampleType::U8, 4);
    const Image before = untouched;
    EXPECT_EQ(gpu->upscale(in, &untouched, params, nullptr).code(), StatusCode::Cancelled);
    EXPECT_EQ(untouched.pixels, before.pixels);
    EXPECT_FALSE(std::any_of(reports.begin(), reports.end(),
                             [](const auto& r) { return r.second == std::string("network (TTA 5/8)"); }));
}

}  // namespace
}  // namespace nalasr::test
