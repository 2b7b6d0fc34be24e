// JPEG container: frame size from the SOF marker, EXIF from APP1, the ICC profile from (possibly several) APP2
// segments, and writing both back after SOI/JFIF.
#include <algorithm>
#include <map>

#include "image_container.h"

namespace nalasr::detail {
namespace {

constexpr char kExifId[] = "Exif\0\0";             // 6 bytes
constexpr char kIccId[] = "ICC_PROFILE";            // 11 bytes + NUL, then sequence number and count
constexpr std::size_t kMaxSegmentData = 65533;      // 16-bit length field includes its own 2 bytes
constexpr std::size_t kIccChunkBytes = kMaxSegmentData - 14;

bool is_sof(std::uint8_t m) { return m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc; }
bool is_standalone(std::uint8_t m) { return m == 0x01 || (m >= 0xd0 && m <= 0xd8); }

void append_segment(Bytes* out, std::uint8_t marker, ByteView id, ByteView payload) {
    out->push_back(0xff);
    out->push_back(marker);
    append_be16(out, std::uint32_t(2 + id.size() + payload.size()));
    out->insert(out->end(), id.begin(), id.end());
    out->insert(out->end(), payload.begin(), payload.end());
}

}  // namespace

Status probe_jpeg(ByteView b, ContainerInfo* info) {
    info->format = ImageFormat::Jpeg;
    std::map<int, Bytes> icc_chunks;  // by sequence number (1-based)
    bool have_frame = false;
    std::size_t at = 2;
    while (at < b.size()) {
        if (b[at] != 0xff) return {StatusCode::CorruptData, "JPEG marker expected but not found"};
        while (at < b.size() && b[at] == 0xff) ++at;  // fill bytes
        if (at >= b.size()) break;
        std::uint8_t marker = b[at++];
        if (is_standalone(marker)) continue;
        if (marker == 0xd9) break;  // EOI
        std::uint32_t len = 0;
        if (!read_be16(b, at, &len) || len < 2 || at + len > b.size())
            return {StatusCode::CorruptData, "JPEG file is truncated"};
        ByteView data = b.subspan(at + 2, len - 2);
        if (is_sof(marker)) {
            std::uint32_t h = 0, w = 0;
            if (!read_be16(data, 1, &h) || !read_be16(data, 3, &w) || w == 0 || h == 0)
                return {StatusCode::CorruptData, "JPEG frame header has invalid dimensions"};
            info->width = int(w);
            info->height = int(h);
            have_frame = true;
        } else if (marker == 0xe1 && starts_with(data, 0, kExifId, 6) && info->exif.empty()) {
            info->exif.assign(data.begin() + 6, data.end());
        } else if (marker == 0xe2 && starts_with(data, 0, kIccId, 12) && data.size() >= 14) {
            icc_chunks[data[12]].assign(data.begin() + 14, data.end());
        }
        at += len;
        if (marker == 0xda) break;  // start of scan: entropy-coded data follows, no more metadata
    }
    if (!have_frame) return {StatusCode::CorruptData, "JPEG file has no frame header (truncated?)"};
    // Inside entropy-coded data 0xFF is always followed by 0x00 or a restart/scan marker, so FF D9 is the end.
    bool have_end = false;
    for (std::size_t i = at; i + 1 < b.size() && !have_end; ++i) have_end = b[i] == 0xff && b[i + 1] == 0xd9;
    if (!have_end) return {StatusCode::CorruptData, "JPEG file is truncated (no end-of-image marker)"};
    for (const auto& [seq, chunk] : icc_chunks) info->icc_profile.insert(info->icc_profile.end(), chunk.begin(), chunk.end());
    return Status::ok();
}

void jpeg_insert_metadata(Bytes* jpeg, const Bytes& icc_profile, const Bytes& exif) {
    if (jpeg->size() < 4) return;
    // Insert after SOI and, if present, the JFIF APP0 segment (readers expect JFIF first).
    std::size_t at = 2;
    std::uint32_t len = 0;
    if ((*jpeg)[2] == 0xff && (*jpeg)[3] == 0xe0 && read_be16(*jpeg, 4, &len)) at = 4 + len;

    Bytes segments;
    const ByteView exif_id(reinterpret_cast<const std::uint8_t*>(kExifId), 6);
    if (!exif.empty() && exif.size() + 6 <= kMaxSegmentData) append_segment(&segments, 0xe1, exif_id, exif);
    const std::size_t chunks = (icc_profile.size() + kIccChunkBytes - 1) / kIccChunkBytes;
    if (chunks <= 255) {
        for (std::size_t i = 0; i < chunks; ++i) {
            Bytes id(kIccId, kIccId + 12);
            id.push_back(std::uint8_t(i + 1));
            id.push_back(std::uint8_t(chunks));
            std::size_t begin = i * kIccChunkBytes, end = std::min(icc_profile.size(), begin + kIccChunkBytes);
            append_segment(&segments, 0xe2, id, ByteView(icc_profile).subspan(begin, end - begin));
        }
    }
    jpeg->insert(jpeg->begin() + std::ptrdiff_t(at), segments.begin(), segments.end());
}

}  // namespace nalasr::detail
