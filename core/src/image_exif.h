// EXIF blocks: the orientation field we act on (tag 0x0112 in IFD0), and the entries of IFD0 and of the EXIF and
// GPS sub-IFDs, for the formats that hold EXIF as TIFF fields rather than as one block (TIFF itself).
#pragma once

#include <cstdint>
#include <vector>

#include "image_bytes.h"

namespace nalasr::detail {

// EXIF orientation 1..8; 1 when the block is absent, malformed or has no orientation tag.
int exif_orientation(ByteView exif);
// Sets the orientation tag to 1 (pixels already upright); no-op when there is no such tag.
void exif_reset_orientation(Bytes* exif);

// TIFF field types (1 BYTE ... 12 DOUBLE).
enum ExifType : std::uint16_t {
    kExifByte = 1, kExifAscii = 2, kExifShort = 3, kExifLong = 4, kExifRational = 5, kExifSByte = 6,
    kExifUndefined = 7, kExifSShort = 8, kExifSLong = 9, kExifSRational = 10, kExifFloat = 11, kExifDouble = 12,
};
// Bytes per value of a field type (a rational: 8); 0 for types outside 1..12.
std::size_t exif_type_size(std::uint16_t type);

// One IFD entry; its value in little-endian order, count × exif_type_size(type) bytes.
struct ExifEntry {
    std::uint16_t tag = 0;
    std::uint16_t type = 0;
    std::uint32_t count = 0;
    Bytes value;
    bool operator==(const ExifEntry&) const = default;
};

// The IFDs of an EXIF block that we carry, each sorted by tag: IFD0 (description, camera, dates, orientation),
// the EXIF sub-IFD (exposure, lens, original date ...) and the GPS sub-IFD. The entries that point to sub-IFDs
// (0x8769 EXIF, 0x8825 GPS, 0xA005 interoperability) are not kept as entries.
struct ExifIfds {
    std::vector<ExifEntry> ifd0, exif, gps;
    bool empty() const { return ifd0.empty() && exif.empty() && gps.empty(); }
};

// Reads those IFDs from a TIFF-structured block: an EXIF block, or a whole (classic, not Big) TIFF file. Entries
// with an unknown type or a value outside the block are skipped. False when there is no TIFF header.
bool parse_exif_ifds(ByteView block, ExifIfds* out);
// A little-endian EXIF block holding those IFDs (empty when they are).
Bytes build_exif(const ExifIfds& ifds);

// Integer value k of an entry of an integer type (BYTE, SHORT, LONG and their signed kinds), as int64.
bool exif_integer(const ExifEntry& entry, std::uint32_t k, std::int64_t* value);
// Value k of a numeric entry (integers, rationals, float, double) as double; false for ASCII/UNDEFINED or
// a zero denominator.
bool exif_number(const ExifEntry& entry, std::uint32_t k, double* value);

}  // namespace nalasr::detail
