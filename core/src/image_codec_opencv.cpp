// PNG, JPEG, WebP and BMP pixels through OpenCV imgcodecs (in memory: the containers are handled separately).
#include <algorithm>
#include <cstring>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "image_codec.h"

namespace nalasr::detail {

int opencv_depth(SampleType type) {
    switch (type) {
    case SampleType::U8: return CV_8U;
    case SampleType::U16: return CV_16U;
    case SampleType::F32: return CV_32F;
    }
    return CV_8U;
}

namespace {

constexpr int kPngGreyAlpha = 4;  // IHDR colour type

// The Image's pixels as a Mat in OpenCV's channel order (BGR/BGRA); copies only when reordering.
cv::Mat to_bgr_mat(const Image& image) {
    cv::Mat rgb(image.height, image.width, CV_MAKETYPE(opencv_depth(image.type), image.channels),
                const_cast<std::uint8_t*>(image.pixels.data()));
    if (image.channels < 3) return rgb;
    cv::Mat bgr;
    cv::cvtColor(rgb, bgr, image.channels == 3 ? cv::COLOR_RGB2BGR : cv::COLOR_RGBA2BGRA);
    return bgr;
}

const char* extension_of(ImageFormat format) {
    switch (format) {
    case ImageFormat::Png: return ".png";
    case ImageFormat::Jpeg: return ".jpg";
    case ImageFormat::Webp: return ".webp";
    case ImageFormat::Bmp: return ".bmp";
    default: return nullptr;
    }
}

}  // namespace

Status decode_opencv(ByteView bytes, const ContainerInfo& info, Image* out) {
    cv::Mat decoded;
    try {
        const cv::Mat buffer(1, int(bytes.size()), CV_8U, const_cast<std::uint8_t*>(bytes.data()));
        decoded = cv::imdecode(buffer, cv::IMREAD_UNCHANGED);  // keeps depth and alpha; no EXIF rotation
    } catch (const cv::Exception& e) {
        return {StatusCode::CorruptData, std::string("cannot decode the image data (") + e.err + ")"};
    }
    if (decoded.empty())
        return {StatusCode::CorruptData, std::string("cannot decode the ") + image_format_name(info.format) +
                                             " data (truncated or corrupt)"};
    if (decoded.cols != info.width || decoded.rows != info.height)
        return {StatusCode::CorruptData, "decoded size differs from the header's"};

    SampleType type;
    switch (decoded.depth()) {
    case CV_8U: type = SampleType::U8; break;
    case CV_16U: type = SampleType::U16; break;
    case CV_32F: type = SampleType::F32; break;
    default: return {StatusCode::UnsupportedFormat, "unsupported sample depth"};
    }
    cv::Mat rgb;
    switch (decoded.channels()) {
    case 1: rgb = decoded; break;
    case 3: cv::cvtColor(decoded, rgb, cv::COLOR_BGR2RGB); break;
    case 4:
        if (info.png_color_type == kPngGreyAlpha) {  // OpenCV expands grey + alpha to BGRA: take grey and alpha back
            const int from_to[] = {0, 0, 3, 1};
            rgb.create(decoded.size(), CV_MAKETYPE(decoded.depth(), 2));
            cv::mixChannels(&decoded, 1, &rgb, 1, from_to, 2);
        } else {
            cv::cvtColor(decoded, rgb, cv::COLOR_BGRA2RGBA);
        }
        break;
    default: return {StatusCode::UnsupportedFormat, "unsupported channel count " + std::to_string(decoded.channels())};
    }
    out->allocate(rgb.cols, rgb.rows, rgb.channels(), type);
    const std::size_t row_bytes = out->row_bytes();
    for (int y = 0; y < rgb.rows; ++y) std::memcpy(out->pixels.data() + row_bytes * y, rgb.ptr(y), row_bytes);
    return Status::ok();
}

Status encode_opencv(const Image& image, ImageFormat format, const SaveOptions& options, Bytes* out) {
    std::vector<int> params;
    switch (format) {
    case ImageFormat::Jpeg: params = {cv::IMWRITE_JPEG_QUALITY, std::clamp(options.jpeg_quality, 1, 100)}; break;
    case ImageFormat::Webp: params = {cv::IMWRITE_WEBP_QUALITY, std::clamp(options.webp_quality, 1, 101)}; break;
    default: break;
    }
    const char* extension = extension_of(format);
    if (!extension) return {StatusCode::Internal, "OpenCV asked to encode an unsupported format"};
    try {
        if (!cv::imencode(extension, to_bgr_mat(image), *out, params))
            return {StatusCode::IoError, std::string("the ") + image_format_name(format) + " encoder failed"};
    } catch (const cv::Exception& e) {
        return {StatusCode::IoError, std::string("the ") + image_format_name(format) + " encoder failed (" + e.err + ")"};
    }
    return Status::ok();
}

}  // namespace nalasr::detail
