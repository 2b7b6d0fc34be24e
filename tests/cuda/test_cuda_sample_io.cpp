// The GPU sample conversions (kernels/sample_io.cuh) against the host ones (sample_convert.h): bit-identical,
// including rounding ties, out-of-range values, NaN and infinities. Also, without a GPU: the plan's sample
// buffers and write_alpha.
#include <cstring>
#include <limits>

#include "cuda/cuda_plan.h"
#include "cuda_test_util.h"
#include "sample_io.cuh"
#include "sample_convert.h"

namespace nalasr::test {
namespace {

constexpr SampleType kIntTypes[] = {SampleType::U8, SampleType::U16};

kernels::IntSample int_sample(SampleType type) {
    return type == SampleType::U8 ? kernels::IntSample::U8 : kernels::IntSample::U16;
}

float type_max(SampleType type) { return type == SampleType::U8 ? 255.0f : 65535.0f; }

// Network outputs that stress the quantisation: exact ties (k + 0.5)/max and their float neighbours, the range
// ends and beyond, −0, denormals, NaN, ±Inf, then random values in [−0.2, 1.2].
std::vector<float> hard_rgb(SampleType type, std::size_t pixels) {
    const float max = type_max(type);
    std::vector<float> v;
    for (int k = 0; k < 300; ++k) {
        const float tie = (float(k) + 0.5f) / max;
        v.insert(v.end(), {tie, std::nextafter(tie, 0.0f), std::nextafter(tie, 2.0f), float(k) / max});
    }
    const float inf = std::numeric_limits<float>::infinity();
    v.insert(v.end(), {0.0f, -0.0f, 1.0f, std::nextafter(1.0f, 0.0f), std::nextafter(1.0f, 2.0f), 1.5f, -1.0f,
                       1e-40f, -1e-40f, std::numeric_limits<float>::quiet_NaN(), inf, -inf, 1e30f, -1e30f});
    const std::vector<float> noise = random_floats(pixels * 3, 5, -0.2f, 1.2f);
    for (std::size_t i = v.size(); i < pixels * 3; ++i) v.push_back(noise[i]);
    v.resize(pixels * 3);
    return v;
}

std::vector<std::uint8_t> download_bytes(const cuda::DeviceBuffer& buffer, std::size_t bytes) {
    std::vector<std::uint8_t> host(bytes);
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(host.data(), buffer.data(), bytes, cudaMemcpyDeviceToHost), cudaSuccess);
    return host;
}

// Index of the first differing sample, or −1.
long first_difference(const std::vector<std::uint8_t>& a, const std::vector<std::uint8_t>& b, std::size_t sample) {
    for (std::size_t i = 0; i < a.size(); i += sample)
        if (std::memcmp(a.data() + i, b.data() + i, sample) != 0) return long(i / sample);
    return -1;
}

TEST(CudaSampleIo, RgbToSamplesIsBitIdenticalToTheHost) {
    NALASR_SKIP_WITHOUT_GPU();
    const int width = 67, height = 29;  // 1943 pixels: the hard values, then noise
    const std::size_t pixels = std::size_t(width) * height;
    for (SampleType type : kIntTypes) {
        const std::vector<float> rgb = hard_rgb(type, pixels);
        const DeviceArray<float> device_rgb(rgb);
        for (int channels = 1; channels <= 4; ++channels) {
            Image want;  // alpha 0, which the kernel writes
            rgb_to_image(rgb, std::vector<float>(pixels, 0.0f), width, height, channels, type, &want);
            cuda::DeviceBuffer samples;
            ASSERT_TRUE(samples.allocate(want.pixels.size()).is_ok());
            ASSERT_EQ(kernels::rgb_to_samples(device_rgb.get(), std::int64_t(pixels), channels, int_sample(type),
                                              samples.data(), nullptr),
                      cudaSuccess);
            const std::vector<std::uint8_t> got = download_bytes(samples, want.pixels.size());
            const long at = first_difference(got, want.pixels, sample_size(type));
            EXPECT_EQ(at, -1) << sample_type_name(type) << " " << channels << " channels: sample " << at
                              << " differs (pixel " << at / channels << ", network value "
                              << (at >= 0 ? rgb[std::size_t(at / channels) * 3] : 0.0f) << ")";
        }
    }
}

TEST(CudaSampleIo, SamplesToRgbIsBitIdenticalToTheHost) {
    NALASR_SKIP_WITHOUT_GPU();
    for (SampleType type : kIntTypes) {
        for (int channels = 1; channels <= 4; ++channels) {
            // Every value of the type appears in every channel (rotated per channel).
            const int width = 256, height = type == SampleType::U8 ? 2 : 257;
            Image in;
            in.allocate(width, height, channels, type);
            const std::size_t samples = in.pixels.size() / sample_size(type);
            for (std::size_t i = 0; i < samples; ++i) {
                const std::uint32_t v = std::uint32_t(i / std::size_t(channels) + 97 * (i % std::size_t(channels)));
                if (type == SampleType::U8) in.pixels[i] = std::uint8_t(v);
                else {
                    const std::uint16_t v16 = std::uint16_t(v);
                    std::memcpy(in.pixels.data() + 2 * i, &v16, 2);
                }
            }
            const std::vector<float> want = colour_to_rgb(in);
            cuda::DeviceBuffer device_samples;
            ASSERT_TRUE(device_samples.allocate(in.pixels.size()).is_ok());
            ASSERT_EQ(cudaMemcpy(device_samples.data(), in.pixels.data(), in.pixels.size(), cudaMemcpyHostToDevice),
                      cudaSuccess);
            DeviceArray<float> rgb(want.size());
            ASSERT_EQ(kernels::samples_to_rgb(device_samples.data(), int_sample(type), channels,
                                              std::int64_t(width) * height, rgb.get(), nullptr),
                      cudaSuccess);
            const std::vector<float> got = rgb.download();
            EXPECT_EQ(0, std::memcmp(got.data(), want.data(), want.size() * sizeof(float)))
                << sample_type_name(type) << " " << channels << " channels";
        }
    }
}

// No GPU needed: the sample buffers hold the widest integer image, and the RoPE table (written once per arena)
// is live in every stage, so the sample buffers of the first and last stages can never overwrite it.
TEST(CudaPlan, SampleBuffersHoldSixteenBitRgbaAndLeaveTheRopeTableAlone) {
    ModelConfig c;
    c.channels = 32, c.heads = 4, c.groups = 2, c.blocks = 1, c.scale = 3;
    const cuda::ForwardPlan p = cuda::plan_forward(c, 23, 11);
    const std::size_t N = 23 * 11;
    EXPECT_GE(p.bytes[std::size_t(cuda::Buf::SamplesIn)], N * 4 * 2);
    EXPECT_GE(p.bytes[std::size_t(cuda::Buf::SamplesOut)], N * 9 * 4 * 2);
    int last_stage = 0;
    for (const auto& life : p.lifetime) last_stage = std::max(last_stage, life.second);
    const auto rope = p.lifetime[std::size_t(cuda::Buf::Rope)];
    EXPECT_EQ(rope.first, 0);
    EXPECT_EQ(rope.second, last_stage);
}

// No GPU needed: write_alpha writes what rgb_to_image writes into the alpha samples, and nothing else.
TEST(SampleConvert, WriteAlphaMatchesRgbToImage) {
    const int width = 13, height = 5;
    const std::size_t pixels = std::size_t(width) * height;
    const std::vector<float> rgb = random_floats(pixels * 3, 8, 0.0f, 1.0f);
    const std::vector<float> alpha = random_floats(pixels, 9, -0.3f, 1.3f);
    for (SampleType type : {SampleType::U8, SampleType::U16, SampleType::F32})
        for (int channels : {2, 4}) {
            Image want, got;
            rgb_to_image(rgb, alpha, width, height, channels, type, &want);
            rgb_to_image(rgb, std::vector<float>(pixels, 0.0f), width, height, channels, type, &got);
            write_alpha(alpha, &got);
            EXPECT_EQ(got.pixels, want.pixels) << sample_type_name(type) << " " << channels << " channels";
        }
}

}  // namespace
}  // namespace nalasr::test
