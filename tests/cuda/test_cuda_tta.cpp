// TTA (UpscaleParams::tta) on the CUDA engine against the CPU engine's TTA, within the CUDA-vs-CPU bound of the
// other end-to-end tests (kMinPsnr8Bit): float RGB through run_network and an 8-bit image through upscale(), which
// takes the host float path with TTA instead of the GPU's sample conversion. Skips without a GPU.
#include "../cpu_engine.h"
#include "../random_image.h"
#include "../tiny_model.h"
#include "cuda_test_util.h"
#include "nalasr/engine.h"

namespace nalasr::test {
namespace {

std::unique_ptr<Engine> cuda_engine(const Model& model) {
    EngineParams params;
    params.backend = BackendKind::Cuda;
    std::unique_ptr<Engine> engine;
    const Status st = Engine::create(model, params, &engine);
    EXPECT_TRUE(st) << st.message();
    return engine;
}

// 8-bit samples as floats in [0, 1]: psnr_8bit quantises them back to themselves.
std::vector<float> unit_samples(const Image& image) {
    std::vector<float> v(image.pixels.size());
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = image.pixels[i] / 255.0f;
    return v;
}

TEST(CudaTta, MatchesCpuTta) {
    NALASR_SKIP_WITHOUT_GPU();
    const Model model = Model::random(tiny_config(3, AttentionKind::Nala, 2), 23);
    const std::unique_ptr<Engine> gpu = cuda_engine(model), cpu = cpu_engine(model);
    ASSERT_TRUE(gpu && cpu);
    UpscaleParams tta;
    tta.tta = true;

    const int w = 29, h = 17;  // not square: the rotated passes run 17×29
    const std::vector<float> rgb = random_floats(std::size_t(w) * h * 3, 11, 0.0f, 1.0f);
    std::vector<float> got, want;
    UpscaleStats stats;
    ASSERT_TRUE(gpu->run_network(rgb.data(), w, h, &got, tta, &stats));
    ASSERT_TRUE(cpu->run_network(rgb.data(), w, h, &want, tta, nullptr));
    ASSERT_EQ(got.size(), want.size());
    const double psnr = psnr_8bit(got, want);
    std::printf("  [tta] run_network 29x17 x3: PSNR(8-bit) CUDA vs CPU %.2f dB, float NMSE %.3e\n", psnr,
                nmse(got, want));
    EXPECT_GE(psnr, kMinPsnr8Bit);
    EXPECT_EQ(stats.planned_peak_bytes, gpu->predict_upscale_peak_bytes(w, h, tta));

    const Image in = random_image(w, h, 3, SampleType::U8, 13);
    Image gpu_out, cpu_out;
    ASSERT_TRUE(gpu->upscale(in, &gpu_out, tta, nullptr));
    ASSERT_TRUE(cpu->upscale(in, &cpu_out, tta, nullptr));
    const double psnr_u8 = psnr_8bit(unit_samples(gpu_out), unit_samples(cpu_out));
    std::printf("  [tta] upscale u8 29x17 x3: PSNR CUDA vs CPU %.2f dB\n", psnr_u8);
    EXPECT_GE(psnr_u8, kMinPsnr8Bit);
}

}  // namespace
}  // namespace nalasr::test
