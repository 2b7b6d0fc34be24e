// Format detection from magic bytes, the BMP header, and dispatch to the per-format container parsers.
#include <cstdlib>

#include "image_container.h"

namespace nalasr::detail {

ImageFormat detect_format(ByteView b) {
    if (starts_with(b, 0, "\x89PNG\r\n\x1a\n", 8)) return ImageFormat::Png;
    if (b.size() >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff) return ImageFormat::Jpeg;
    if (starts_with(b, 0, "RIFF", 4) && starts_with(b, 8, "WEBP", 4)) return ImageFormat::Webp;
    if (starts_with(b, 0, "BM", 2) && b.size() >= 26) return ImageFormat::Bmp;
    // Classic TIFF ("II*\0", "MM\0*") and BigTIFF ("II+\0", "MM\0+").
    if (starts_with(b, 0, "II*\0", 4) || starts_with(b, 0, "MM\0*", 4) || starts_with(b, 0, "II+\0", 4) ||
        starts_with(b, 0, "MM\0+", 4))
        return ImageFormat::Tiff;
    return ImageFormat::Unknown;
}

Status probe_bmp(ByteView b, ContainerInfo* info) {
    info->format = ImageFormat::Bmp;
    std::uint32_t header_size = 0, w = 0, h = 0, data_offset = 0, bits = 0, compression = 0;
    if (!read_le32(b, 10, &data_offset) || !read_le32(b, 14, &header_size))
        return {StatusCode::CorruptData, "BMP header is truncated"};
    if (header_size == 12) {  // OS/2 BITMAPCOREHEADER: 16-bit dimensions
        read_le16(b, 18, &w);
        read_le16(b, 20, &h);
        read_le16(b, 24, &bits);
    } else if (header_size >= 40) {
        if (!read_le32(b, 18, &w) || !read_le32(b, 22, &h) || !read_le16(b, 28, &bits) || !read_le32(b, 30, &compression))
            return {StatusCode::CorruptData, "BMP header is truncated"};
    } else {
        return {StatusCode::CorruptData, "BMP header has an unknown size"};
    }
    // Height is negative for top-down bitmaps.
    long long width = std::int32_t(w), height = std::llabs(std::int32_t(h));
    if (width <= 0 || height <= 0 || width > 0x7fffffff || height > 0x7fffffff)
        return {StatusCode::CorruptData, "BMP header has invalid dimensions"};
    // Uncompressed (BI_RGB, BI_BITFIELDS) rows are padded to 4 bytes: a shorter file is truncated.
    const std::uint64_t stride = (std::uint64_t(width) * bits + 31) / 32 * 4;
    if ((compression == 0 || compression == 3) && data_offset + stride * std::uint64_t(height) > b.size())
        return {StatusCode::CorruptData, "BMP file is truncated"};
    info->width = int(width);
    info->height = int(height);
    return Status::ok();
}

Status probe_container(ByteView bytes, ContainerInfo* info) {
    switch (detect_format(bytes)) {
    case ImageFormat::Png: return probe_png(bytes, info);
    case ImageFormat::Jpeg: return probe_jpeg(bytes, info);
    case ImageFormat::Webp: return probe_webp(bytes, info);
    case ImageFormat::Bmp: return probe_bmp(bytes, info);
    case ImageFormat::Tiff: return {StatusCode::Internal, "TIFF is read through libtiff, not probed"};
    case ImageFormat::Unknown: break;
    }
    return {StatusCode::UnsupportedFormat, "not a recognised image file (PNG, JPEG, WebP, BMP or TIFF)"};
}

}  // namespace nalasr::detail
