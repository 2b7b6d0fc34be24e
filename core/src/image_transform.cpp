// Orientation, sample type and channel conversions on nalasr::Image (all sample types).
#include "image_transform.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

namespace nalasr::detail {
namespace {

template <typename T>
T* samples(Image& im) { return reinterpret_cast<T*>(im.pixels.data()); }
template <typename T>
const T* samples(const Image& im) { return reinterpret_cast<const T*>(im.pixels.data()); }

Image with_metadata_of(const Image& in) {
    Image out;
    out.icc_profile = in.icc_profile;
    out.exif = in.exif;
    return out;
}

double to_unit(std::uint8_t v) { return v / 255.0; }
double to_unit(std::uint16_t v) { return v / 65535.0; }
double to_unit(float v) { return v; }

template <typename Dst>
Dst from_unit(double v);
template <>
std::uint8_t from_unit<std::uint8_t>(double v) { return std::uint8_t(std::lround(std::clamp(v, 0.0, 1.0) * 255.0)); }
template <>
std::uint16_t from_unit<std::uint16_t>(double v) { return std::uint16_t(std::lround(std::clamp(v, 0.0, 1.0) * 65535.0)); }
template <>
float from_unit<float>(double v) { return float(v); }

template <typename Src, typename Dst>
void convert_samples(const Image& in, Image* out) {
    const Src* s = samples<Src>(in);
    Dst* d = samples<Dst>(*out);
    const std::size_t n = std::size_t(in.width) * in.height * in.channels;
    for (std::size_t i = 0; i < n; ++i) d[i] = from_unit<Dst>(to_unit(s[i]));
}

template <typename Src>
void convert_from(const Image& in, Image* out) {
    switch (out->type) {
    case SampleType::U8: convert_samples<Src, std::uint8_t>(in, out); break;
    case SampleType::U16: convert_samples<Src, std::uint16_t>(in, out); break;
    case SampleType::F32: convert_samples<Src, float>(in, out); break;
    }
}

template <typename T>
T opaque() {
    if constexpr (std::is_floating_point_v<T>) return T(1);
    else return std::numeric_limits<T>::max();
}

template <typename T>
void convert_layout(const Image& in, Image* out) {
    const int ci = in.channels, co = out->channels;
    const bool in_grey = ci <= 2, out_grey = co <= 2;
    const T* s = samples<T>(in);
    T* d = samples<T>(*out);
    const std::size_t n = std::size_t(in.width) * in.height;
    for (std::size_t p = 0; p < n; ++p, s += ci, d += co) {
        if (in_grey && !out_grey) {
            d[0] = d[1] = d[2] = s[0];
        } else if (!in_grey && out_grey) {
            d[0] = from_unit<T>(0.299 * to_unit(s[0]) + 0.587 * to_unit(s[1]) + 0.114 * to_unit(s[2]));
        } else {
            std::memcpy(d, s, sizeof(T) * (out_grey ? 1 : 3));
        }
        if (co == 2 || co == 4) d[co - 1] = (ci == 2 || ci == 4) ? s[ci - 1] : opaque<T>();
    }
}

}  // namespace

Image apply_orientation(const Image& in, int orientation) {
    if (orientation <= 1 || orientation > 8) return in;
    const bool swap = orientation >= 5;  // 5..8 transpose the axes
    const int w = in.width, h = in.height;
    Image out = with_metadata_of(in);
    out.allocate(swap ? h : w, swap ? w : h, in.channels, in.type);
    const std::size_t px = std::size_t(in.channels) * sample_size(in.type);
    for (int oy = 0; oy < out.height; ++oy) {
        for (int ox = 0; ox < out.width; ++ox) {
            int sx = ox, sy = oy;
            switch (orientation) {
            case 2: sx = w - 1 - ox; break;                      // mirror horizontally
            case 3: sx = w - 1 - ox; sy = h - 1 - oy; break;     // rotate 180
            case 4: sy = h - 1 - oy; break;                      // mirror vertically
            case 5: sx = oy; sy = ox; break;                     // transpose
            case 6: sx = oy; sy = h - 1 - ox; break;             // rotate 90 clockwise
            case 7: sx = w - 1 - oy; sy = h - 1 - ox; break;     // transverse
            case 8: sx = w - 1 - oy; sy = ox; break;             // rotate 90 counter-clockwise
            }
            std::memcpy(&out.pixels[(std::size_t(oy) * out.width + ox) * px],
                        &in.pixels[(std::size_t(sy) * w + sx) * px], px);
        }
    }
    return out;
}

Image convert_sample_type(const Image& in, SampleType type) {
    if (in.type == type) return in;
    Image out = with_metadata_of(in);
    out.allocate(in.width, in.height, in.channels, type);
    switch (in.type) {
    case SampleType::U8: convert_from<std::uint8_t>(in, &out); break;
    case SampleType::U16: convert_from<std::uint16_t>(in, &out); break;
    case SampleType::F32: convert_from<float>(in, &out); break;
    }
    return out;
}

Image convert_channels(const Image& in, int channels) {
    if (in.channels == channels) return in;
    Image out = with_metadata_of(in);
    out.allocate(in.width, in.height, channels, in.type);
    switch (in.type) {
    case SampleType::U8: convert_layout<std::uint8_t>(in, &out); break;
    case SampleType::U16: convert_layout<std::uint16_t>(in, &out); break;
    case SampleType::F32: convert_layout<float>(in, &out); break;
    }
    return out;
}

}  // namespace nalasr::detail
