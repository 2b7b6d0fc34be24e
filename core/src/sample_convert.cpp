#include "sample_convert.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace nalasr {
namespace {

float read_sample(const std::uint8_t* p, SampleType type) {
    switch (type) {
        case SampleType::U8: return float(*p) / 255.0f;
        case SampleType::U16: {
            std::uint16_t v;
            std::memcpy(&v, p, 2);
            return float(v) / 65535.0f;
        }
        case SampleType::F32: {
            float v;
            std::memcpy(&v, p, 4);
            return v;
        }
    }
    return 0.0f;
}

void write_sample(std::uint8_t* p, SampleType type, float v) {
    auto quantise = [](float x, float max) {  // NaN → 0
        return x > 0.0f ? std::nearbyint(std::min(x, 1.0f) * max) : 0.0f;
    };
    switch (type) {
        case SampleType::U8: *p = std::uint8_t(quantise(v, 255.0f)); break;
        case SampleType::U16: {
            const std::uint16_t q = std::uint16_t(quantise(v, 65535.0f));
            std::memcpy(p, &q, 2);
            break;
        }
        case SampleType::F32: std::memcpy(p, &v, 4); break;
    }
}

}  // namespace

Status check_image(const Image& image) {
    if (image.width <= 0 || image.height <= 0)
        return {StatusCode::InvalidArgument, "the image is empty (" + std::to_string(image.width) + "x" +
                                                 std::to_string(image.height) + ")"};
    if (image.channels < 1 || image.channels > 4)
        return {StatusCode::InvalidArgument, "images must have 1-4 channels, this one has " +
                                                 std::to_string(image.channels)};
    if (image.type != SampleType::U8 && image.type != SampleType::U16 && image.type != SampleType::F32)
        return {StatusCode::InvalidArgument, "unknown sample type"};
    const std::size_t sample = sample_size(image.type);
    const std::size_t expected = std::size_t(image.width) * image.height * image.channels * sample;
    if (image.pixels.size() != expected)
        return {StatusCode::InvalidArgument, "the image's pixel buffer has " + std::to_string(image.pixels.size()) +
                                                 " bytes but its geometry needs " + std::to_string(expected)};
    if (image.type == SampleType::F32) {
        const std::size_t n = expected / 4;
        for (std::size_t i = 0; i < n; ++i) {
            float v;
            std::memcpy(&v, image.pixels.data() + i * 4, 4);
            if (!std::isfinite(v)) return {StatusCode::InvalidArgument, "the float image contains NaN or Inf samples"};
        }
    }
    return Status::ok();
}

std::vector<float> colour_to_rgb(const Image& image) {
    const std::size_t pixels = std::size_t(image.width) * image.height, sample = sample_size(image.type);
    const int colour = image.channels >= 3 ? 3 : 1;
    std::vector<float> rgb(pixels * 3);
    for (std::size_t i = 0; i < pixels; ++i) {
        const std::uint8_t* p = image.pixels.data() + i * image.channels * sample;
        for (int c = 0; c < 3; ++c) rgb[i * 3 + c] = read_sample(p + (colour == 3 ? c : 0) * sample, image.type);
    }
    return rgb;
}

std::vector<float> alpha_plane(const Image& image) {
    if (!image.has_alpha()) return {};
    const std::size_t pixels = std::size_t(image.width) * image.height, sample = sample_size(image.type);
    std::vector<float> alpha(pixels);
    for (std::size_t i = 0; i < pixels; ++i)
        alpha[i] = read_sample(image.pixels.data() + (i * image.channels + image.channels - 1) * sample, image.type);
    return alpha;
}

void rgb_to_image(const std::vector<float>& rgb, const std::vector<float>& alpha, int width, int height,
                  int channels, SampleType type, Image* out) {
    const std::size_t pixels = std::size_t(width) * height, sample = sample_size(type);
    out->allocate(width, height, channels, type);
    const bool grey = channels <= 2, has_alpha = channels == 2 || channels == 4;
    for (std::size_t i = 0; i < pixels; ++i) {
        std::uint8_t* p = out->pixels.data() + i * channels * sample;
        const float* v = rgb.data() + i * 3;
        if (grey) {
            write_sample(p, type, (v[0] + v[1] + v[2]) / 3.0f);
        } else {
            for (int c = 0; c < 3; ++c) write_sample(p + c * sample, type, v[c]);
        }
        if (has_alpha) write_sample(p + (channels - 1) * sample, type, std::clamp(alpha[i], 0.0f, 1.0f));
    }
}

void write_alpha(const std::vector<float>& alpha, Image* image) {
    const std::size_t pixels = std::size_t(image->width) * image->height, sample = sample_size(image->type);
    const std::size_t stride = std::size_t(image->channels) * sample, offset = (image->channels - 1) * sample;
    for (std::size_t i = 0; i < pixels; ++i)
        write_sample(image->pixels.data() + i * stride + offset, image->type, std::clamp(alpha[i], 0.0f, 1.0f));
}

}  // namespace nalasr
