#include "sample_conversion.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace nalasr::gui {
namespace {

template <typename T>
T sample_at(const Image& image, std::size_t i) {
    T value;
    std::memcpy(&value, image.pixels.data() + i * sizeof(T), sizeof(T));
    return value;
}

template <typename T>
void set_sample(Image* image, std::size_t i, T value) {
    std::memcpy(image->pixels.data() + i * sizeof(T), &value, sizeof(T));
}

// A sample as a fraction of full scale (float samples clamped to [0, 1]; NaN counts as 0).
float unit_value(const Image& image, std::size_t i) {
    switch (image.type) {
        case SampleType::U8: return sample_at<std::uint8_t>(image, i) / 255.0f;
        case SampleType::U16: return sample_at<std::uint16_t>(image, i) / 65535.0f;
        case SampleType::F32: break;
    }
    const float v = sample_at<float>(image, i);
    return std::isnan(v) ? 0.0f : std::clamp(v, 0.0f, 1.0f);
}

}  // namespace

const char* output_bit_depth_id(OutputBitDepth depth) {
    switch (depth) {
        case OutputBitDepth::KeepInput: return "keep";
        case OutputBitDepth::U8: return "8";
        case OutputBitDepth::U16: return "16";
        case OutputBitDepth::F32: return "f32";
    }
    return "keep";
}

OutputBitDepth output_bit_depth_from_id(const QString& id) {
    for (OutputBitDepth depth : {OutputBitDepth::U8, OutputBitDepth::U16, OutputBitDepth::F32})
        if (id == QLatin1String(output_bit_depth_id(depth))) return depth;
    return OutputBitDepth::KeepInput;
}

Image convert_samples(const Image& image, SampleType type) {
    if (image.type == type) return image;
    Image out;
    out.allocate(image.width, image.height, image.channels, type);
    out.icc_profile = image.icc_profile;
    out.exif = image.exif;
    const std::size_t count = std::size_t(image.width) * image.height * image.channels;
    for (std::size_t i = 0; i < count; ++i) {
        // u8 → u16 exactly (×257); every other pair goes through [0, 1] and rounds.
        if (image.type == SampleType::U8 && type == SampleType::U16) {
            set_sample<std::uint16_t>(&out, i, std::uint16_t(sample_at<std::uint8_t>(image, i) * 257));
            continue;
        }
        if (image.type == SampleType::U16 && type == SampleType::U8) {
            set_sample<std::uint8_t>(&out, i, std::uint8_t((sample_at<std::uint16_t>(image, i) + 128) / 257));
            continue;
        }
        const float v = unit_value(image, i);
        switch (type) {
            case SampleType::U8: set_sample<std::uint8_t>(&out, i, std::uint8_t(std::lround(v * 255.0))); break;
            case SampleType::U16: set_sample<std::uint16_t>(&out, i, std::uint16_t(std::lround(v * 65535.0))); break;
            case SampleType::F32: set_sample<float>(&out, i, v); break;
        }
    }
    return out;
}

Image with_bit_depth(Image image, OutputBitDepth depth) {
    switch (depth) {
        case OutputBitDepth::KeepInput: return image;
        case OutputBitDepth::U8: return convert_samples(image, SampleType::U8);
        case OutputBitDepth::U16: return convert_samples(image, SampleType::U16);
        case OutputBitDepth::F32: return convert_samples(image, SampleType::F32);
    }
    return image;
}

}  // namespace nalasr::gui
