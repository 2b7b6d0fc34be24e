// PNG container: IHDR dimensions, iCCP/eXIf metadata, and metadata insertion after IHDR.
#include <libdeflate.h>

#include <algorithm>

#include "image_container.h"

namespace nalasr::detail {
namespace {

constexpr std::uint8_t kPngSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
constexpr std::size_t kMaxIccBytes = 64u << 20;

// iCCP data: profile name (1-79 bytes), NUL, compression method 0, zlib stream.
Status parse_iccp(ByteView data, Bytes* icc) {
    std::size_t nul = 0;
    while (nul < data.size() && nul < 80 && data[nul] != 0) ++nul;
    if (nul == 0 || nul >= 80 || nul + 2 > data.size() || data[nul + 1] != 0)
        return {StatusCode::CorruptData, "malformed iCCP chunk"};
    return zlib_inflate(data.subspan(nul + 2), kMaxIccBytes, icc);
}

}  // namespace

void append_png_chunk(Bytes* out, const char type[4], ByteView data) {
    append_be32(out, std::uint32_t(data.size()));
    std::size_t type_at = out->size();
    out->insert(out->end(), type, type + 4);
    out->insert(out->end(), data.begin(), data.end());
    append_be32(out, libdeflate_crc32(0, out->data() + type_at, 4 + data.size()));
}

Status probe_png(ByteView b, ContainerInfo* info) {
    info->format = ImageFormat::Png;
    std::uint32_t ihdr_len = 0, w = 0, h = 0;
    if (b.size() < 33 || !read_be32(b, 8, &ihdr_len) || ihdr_len != 13 || !starts_with(b, 12, "IHDR", 4))
        return {StatusCode::CorruptData, "PNG header (IHDR) is missing or truncated"};
    read_be32(b, 16, &w);
    read_be32(b, 20, &h);
    if (w == 0 || h == 0 || w > 0x7fffffff || h > 0x7fffffff)
        return {StatusCode::CorruptData, "PNG header has invalid dimensions"};
    info->width = int(w);
    info->height = int(h);
    info->png_color_type = b[25];

    bool saw_iend = false;
    for (std::size_t at = 8; at + 12 <= b.size();) {
        std::uint32_t len = 0;
        read_be32(b, at, &len);
        if (len > b.size() - at - 12) break;  // truncated chunk
        ByteView data = b.subspan(at + 8, len);
        // Checking CRCs here keeps libpng from printing its own complaints to stderr.
        std::uint32_t stored_crc = 0;
        read_be32(b, at + 8 + len, &stored_crc);
        if (libdeflate_crc32(0, b.data() + at + 4, 4 + std::size_t(len)) != stored_crc)
            return {StatusCode::CorruptData, "PNG chunk '" + std::string(b.begin() + at + 4, b.begin() + at + 8) +
                                                 "' has a bad checksum (corrupt file)"};
        if (starts_with(b, at + 4, "iCCP", 4)) {
            if (!parse_iccp(data, &info->icc_profile)) info->icc_profile.clear();  // a bad profile is not fatal
        } else if (starts_with(b, at + 4, "eXIf", 4)) {
            info->exif.assign(data.begin(), data.end());
        } else if (starts_with(b, at + 4, "IEND", 4)) {
            saw_iend = true;
            break;
        }
        at += 12 + std::size_t(len);
    }
    if (!saw_iend) return {StatusCode::CorruptData, "PNG file is truncated (no IEND chunk)"};
    return Status::ok();
}

Status png_insert_metadata(Bytes* png, const Bytes& icc_profile, const Bytes& exif) {
    constexpr std::size_t kAfterIhdr = 8 + 12 + 13;
    if (png->size() < kAfterIhdr || !std::equal(kPngSignature, kPngSignature + 8, png->begin()))
        return {StatusCode::Internal, "encoder produced an invalid PNG"};
    Bytes chunks;
    if (!icc_profile.empty()) {
        Bytes iccp = {'I', 'C', 'C', ' ', 'P', 'r', 'o', 'f', 'i', 'l', 'e', 0, 0};
        Bytes compressed = zlib_deflate(icc_profile, 9);
        iccp.insert(iccp.end(), compressed.begin(), compressed.end());
        append_png_chunk(&chunks, "iCCP", iccp);
    }
    if (!exif.empty()) append_png_chunk(&chunks, "eXIf", exif);
    png->insert(png->begin() + kAfterIhdr, chunks.begin(), chunks.end());
    return Status::ok();
}

}  // namespace nalasr::detail
