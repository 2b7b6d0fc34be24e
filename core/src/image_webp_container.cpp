// WebP (RIFF) container: canvas size from VP8X / VP8 / VP8L, ICCP and EXIF chunks, and writing them back
// (which needs the extended VP8X layout).
#include "image_container.h"

namespace nalasr::detail {
namespace {

constexpr std::uint8_t kFlagIcc = 0x20, kFlagAlpha = 0x10, kFlagExif = 0x08, kFlagAnimation = 0x02;

struct Chunk {
    std::size_t at;  // offset of the FourCC
    std::uint32_t size;
    ByteView data;
};

// Walks the chunks after "RIFF....WEBP"; false if a chunk runs past the end.
template <typename Fn>
bool for_each_chunk(ByteView b, Fn&& fn) {
    for (std::size_t at = 12; at + 8 <= b.size();) {
        std::uint32_t size = 0;
        read_le32(b, at + 4, &size);
        if (size > b.size() - at - 8) return false;
        if (!fn(Chunk{at, size, b.subspan(at + 8, size)})) return true;
        at += 8 + std::size_t(size) + (size & 1);
    }
    return true;
}

void append_chunk(Bytes* out, const char fourcc[4], ByteView data) {
    out->insert(out->end(), fourcc, fourcc + 4);
    append_le32(out, std::uint32_t(data.size()));
    out->insert(out->end(), data.begin(), data.end());
    if (data.size() & 1) out->push_back(0);
}

}  // namespace

Status probe_webp(ByteView b, ContainerInfo* info) {
    info->format = ImageFormat::Webp;
    // The RIFF size covers everything after its own 8 bytes; OpenCV needs at least a 32-byte header.
    std::uint32_t riff_size = 0;
    if (b.size() < 32 || !read_le32(b, 4, &riff_size) || std::size_t(riff_size) + 8 > b.size())
        return {StatusCode::CorruptData, "WebP file is truncated"};
    bool animated = false, have_size = false;
    bool complete = for_each_chunk(b, [&](const Chunk& c) {
        std::uint32_t v = 0, w = 0, h = 0;
        if (starts_with(b, c.at, "VP8X", 4) && c.size >= 10) {
            animated = (c.data[0] & kFlagAnimation) != 0;
            read_le24(c.data, 4, &w);
            read_le24(c.data, 7, &h);
            info->width = int(w + 1);
            info->height = int(h + 1);
            have_size = true;
        } else if (starts_with(b, c.at, "VP8 ", 4) && c.size >= 10 && !have_size) {
            if (c.data[3] != 0x9d || c.data[4] != 0x01 || c.data[5] != 0x2a) return false;
            read_le16(c.data, 6, &w);
            read_le16(c.data, 8, &h);
            info->width = int(w & 0x3fff);
            info->height = int(h & 0x3fff);
            have_size = true;
        } else if (starts_with(b, c.at, "VP8L", 4) && c.size >= 5 && !have_size) {
            if (c.data[0] != 0x2f) return false;
            read_le32(c.data, 1, &v);
            info->width = int((v & 0x3fff) + 1);
            info->height = int(((v >> 14) & 0x3fff) + 1);
            have_size = true;
        } else if (starts_with(b, c.at, "ICCP", 4)) {
            info->icc_profile.assign(c.data.begin(), c.data.end());
        } else if (starts_with(b, c.at, "EXIF", 4)) {
            std::size_t skip = starts_with(c.data, 0, "Exif\0\0", 6) ? 6 : 0;
            info->exif.assign(c.data.begin() + std::ptrdiff_t(skip), c.data.end());
        }
        return true;
    });
    if (animated) return {StatusCode::UnsupportedFormat, "animated WebP is not supported"};
    if (!complete) return {StatusCode::CorruptData, "WebP file is truncated"};
    if (!have_size || info->width <= 0 || info->height <= 0)
        return {StatusCode::CorruptData, "WebP file has no valid image header"};
    return Status::ok();
}

Status webp_insert_metadata(Bytes* webp, const Bytes& icc_profile, const Bytes& exif) {
    if (icc_profile.empty() && exif.empty()) return Status::ok();
    ContainerInfo info;
    if (auto st = probe_webp(*webp, &info); !st) return {StatusCode::Internal, "encoder produced: " + st.message()};

    // Rebuild the chunk list: VP8X, ICCP, the encoder's image chunks, EXIF.
    Bytes vp8x;
    Bytes image_chunks;
    bool lossless_alpha = false;  // VP8L header bit 28: the image uses alpha
    for_each_chunk(*webp, [&](const Chunk& c) {
        if (starts_with(*webp, c.at, "VP8X", 4)) {
            vp8x.assign(c.data.begin(), c.data.end());
            return true;
        }
        std::uint32_t header = 0;
        if (starts_with(*webp, c.at, "VP8L", 4) && read_le32(c.data, 1, &header)) lossless_alpha = (header >> 28) & 1;
        ByteView whole = ByteView(*webp).subspan(c.at, 8 + std::size_t(c.size) + (c.size & 1));
        image_chunks.insert(image_chunks.end(), whole.begin(), whole.end());
        return true;
    });
    if (vp8x.empty()) {
        vp8x.assign(10, 0);
        if (lossless_alpha) vp8x[0] = kFlagAlpha;
    }
    vp8x[0] |= (icc_profile.empty() ? 0 : kFlagIcc) | (exif.empty() ? 0 : kFlagExif);
    for (int i = 0; i < 3; ++i) {
        vp8x[4 + i] = std::uint8_t(std::uint32_t(info.width - 1) >> (8 * i));
        vp8x[7 + i] = std::uint8_t(std::uint32_t(info.height - 1) >> (8 * i));
    }

    Bytes out = {'R', 'I', 'F', 'F', 0, 0, 0, 0, 'W', 'E', 'B', 'P'};
    append_chunk(&out, "VP8X", vp8x);
    if (!icc_profile.empty()) append_chunk(&out, "ICCP", icc_profile);
    out.insert(out.end(), image_chunks.begin(), image_chunks.end());
    if (!exif.empty()) append_chunk(&out, "EXIF", exif);
    write_le32(&out, 4, std::uint32_t(out.size() - 8));
    *webp = std::move(out);
    return Status::ok();
}

}  // namespace nalasr::detail
