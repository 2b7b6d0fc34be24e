#include "image_display.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <opencv2/imgproc.hpp>

namespace nalasr::gui {
namespace {

std::uint8_t sample_to_u8(const std::uint8_t* sample, SampleType type) {
    switch (type) {
        case SampleType::U8: return *sample;
        case SampleType::U16: {
            std::uint16_t v;
            std::memcpy(&v, sample, sizeof v);
            return std::uint8_t((v * 255u + 32767u) / 65535u);
        }
        case SampleType::F32: {
            float v;
            std::memcpy(&v, sample, sizeof v);
            if (!(v > 0.0f)) return 0;  // also NaN
            return std::uint8_t(std::lround(std::min(v, 1.0f) * 255.0f));
        }
    }
    return 0;
}

const char* channel_layout_name(int channels) {
    switch (channels) {
        case 1: return "grey";
        case 2: return "grey + alpha";
        case 3: return "RGB";
        case 4: return "RGBA";
    }
    return "?";
}

}  // namespace

QImage to_display_image(const Image& image) {
    if (image.empty() || image.channels < 1 || image.channels > 4) return {};
    QImage out(image.width, image.height, QImage::Format_RGBA8888);
    if (out.isNull()) return {};  // too large to allocate
    const std::size_t bytes = sample_size(image.type);
    const int c = image.channels;
    for (int y = 0; y < image.height; ++y) {
        const std::uint8_t* src = image.pixels.data() + std::size_t(y) * image.row_bytes();
        std::uint8_t* dst = out.scanLine(y);
        for (int x = 0; x < image.width; ++x, src += c * bytes, dst += 4) {
            const std::uint8_t first = sample_to_u8(src, image.type);
            const bool colour = c >= 3;
            dst[0] = first;
            dst[1] = colour ? sample_to_u8(src + bytes, image.type) : first;
            dst[2] = colour ? sample_to_u8(src + 2 * bytes, image.type) : first;
            dst[3] = image.has_alpha() ? sample_to_u8(src + (c - 1) * bytes, image.type) : 255;
        }
    }
    return out;
}

QString describe_image(const Image& image) {
    const char* depth = image.type == SampleType::U8 ? "8-bit" : image.type == SampleType::U16 ? "16-bit" : "float";
    return QStringLiteral("%1×%2 · %3 %4")
        .arg(image.width)
        .arg(image.height)
        .arg(QLatin1String(channel_layout_name(image.channels)), QLatin1String(depth));
}

QImage bicubic_upscale(const QImage& image, int scale, qint64 max_pixels) {
    if (qint64(image.width()) * image.height() * scale * scale > max_pixels) return {};
    const QImage src = image.convertToFormat(QImage::Format_RGBA8888);
    QImage out(src.width() * scale, src.height() * scale, QImage::Format_RGBA8888);
    if (src.isNull() || out.isNull()) return {};
    const cv::Mat from(src.height(), src.width(), CV_8UC4, const_cast<uchar*>(src.constBits()),
                       std::size_t(src.bytesPerLine()));
    cv::Mat to(out.height(), out.width(), CV_8UC4, out.bits(), std::size_t(out.bytesPerLine()));
    cv::resize(from, to, to.size(), 0, 0, cv::INTER_CUBIC);
    return out;
}

}  // namespace nalasr::gui
