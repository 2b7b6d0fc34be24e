// Minimal EXIF reader/writer: finds IFD0's orientation entry in the TIFF-structured EXIF block.
#include "image_exif.h"

namespace nalasr::detail {
namespace {

constexpr std::uint32_t kOrientationTag = 0x0112;
constexpr std::uint32_t kTypeShort = 3;

// Offset of the orientation entry's value field, or 0 when not found. `big_endian` is set from the header.
std::size_t find_orientation_value(ByteView exif, bool* big_endian) {
    if (starts_with(exif, 0, "MM\0*", 4)) *big_endian = true;
    else if (starts_with(exif, 0, "II*\0", 4)) *big_endian = false;
    else return 0;
    auto read16 = [&](std::size_t at, std::uint32_t* v) { return *big_endian ? read_be16(exif, at, v) : read_le16(exif, at, v); };
    auto read32 = [&](std::size_t at, std::uint32_t* v) { return *big_endian ? read_be32(exif, at, v) : read_le32(exif, at, v); };

    std::uint32_t ifd = 0, count = 0;
    if (!read32(4, &ifd) || !read16(ifd, &count)) return 0;
    for (std::uint32_t i = 0; i < count; ++i) {
        std::size_t entry = std::size_t(ifd) + 2 + 12 * std::size_t(i);
        std::uint32_t tag = 0, type = 0;
        if (!read16(entry, &tag) || !read16(entry + 2, &type)) return 0;
        if (tag == kOrientationTag) return type == kTypeShort && entry + 10 <= exif.size() ? entry + 8 : 0;
    }
    return 0;
}

}  // namespace

int exif_orientation(ByteView exif) {
    bool big_endian = false;
    std::size_t at = find_orientation_value(exif, &big_endian);
    std::uint32_t v = 1;
    if (at == 0 || !(big_endian ? read_be16(exif, at, &v) : read_le16(exif, at, &v))) return 1;
    return v >= 1 && v <= 8 ? int(v) : 1;
}

void exif_reset_orientation(Bytes* exif) {
    bool big_endian = false;
    std::size_t at = find_orientation_value(*exif, &big_endian);
    if (at == 0) return;
    (*exif)[at] = big_endian ? 0 : 1;
    (*exif)[at + 1] = big_endian ? 1 : 0;
}

}  // namespace nalasr::detail
