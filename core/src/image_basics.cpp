// Small helpers of the public image API: sample types, formats, allocation.
#include <algorithm>
#include <cctype>

#include "nalasr/image.h"

namespace nalasr {

std::size_t sample_size(SampleType type) {
    switch (type) {
    case SampleType::U8: return 1;
    case SampleType::U16: return 2;
    case SampleType::F32: return 4;
    }
    return 1;
}

const char* sample_type_name(SampleType type) {
    switch (type) {
    case SampleType::U8: return "u8";
    case SampleType::U16: return "u16";
    case SampleType::F32: return "f32";
    }
    return "?";
}

void Image::allocate(int w, int h, int c, SampleType t) {
    width = w;
    height = h;
    channels = c;
    type = t;
    pixels.assign(std::size_t(w) * std::size_t(h) * std::size_t(c) * sample_size(t), 0);
}

const char* image_format_name(ImageFormat format) {
    switch (format) {
    case ImageFormat::Png: return "png";
    case ImageFormat::Jpeg: return "jpg";
    case ImageFormat::Webp: return "webp";
    case ImageFormat::Bmp: return "bmp";
    case ImageFormat::Tiff: return "tiff";
    case ImageFormat::Unknown: break;
    }
    return "unknown";
}

ImageFormat image_format_from_extension(const std::string& extension) {
    std::string ext = extension;
    if (!ext.empty() && ext[0] == '.') ext.erase(0, 1);
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    if (ext == "png") return ImageFormat::Png;
    if (ext == "jpg" || ext == "jpeg" || ext == "jpe") return ImageFormat::Jpeg;
    if (ext == "webp") return ImageFormat::Webp;
    if (ext == "bmp" || ext == "dib") return ImageFormat::Bmp;
    if (ext == "tif" || ext == "tiff") return ImageFormat::Tiff;
    return ImageFormat::Unknown;
}

}  // namespace nalasr
