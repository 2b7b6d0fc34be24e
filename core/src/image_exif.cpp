// Minimal EXIF reader/writer: IFD0's orientation entry, and the entries of IFD0 and the EXIF/GPS sub-IFDs.
#include "image_exif.h"

#include <algorithm>
#include <cstring>

namespace nalasr::detail {
namespace {

constexpr std::uint32_t kOrientationTag = 0x0112;
constexpr std::uint16_t kExifIfdTag = 0x8769, kGpsIfdTag = 0x8825, kInteropIfdTag = 0xA005;
constexpr std::uint16_t kTypeIfd = 13;
// More entries than this in one IFD means a corrupt block (real ones have a few dozen).
constexpr std::uint32_t kMaxEntries = 1000;

// Bounds-checked reads in the block's byte order.
struct Reader {
    ByteView b;
    bool big_endian = false;
    bool u16(std::size_t at, std::uint32_t* v) const { return big_endian ? read_be16(b, at, v) : read_le16(b, at, v); }
    bool u32(std::size_t at, std::uint32_t* v) const { return big_endian ? read_be32(b, at, v) : read_le32(b, at, v); }
};

bool open_block(ByteView block, Reader* r) {
    r->b = block;
    if (starts_with(block, 0, "MM\0*", 4)) r->big_endian = true;
    else if (starts_with(block, 0, "II*\0", 4)) r->big_endian = false;
    else return false;
    return true;
}

// Offset of the orientation entry's value field, or 0 when not found. `big_endian` is set from the header.
std::size_t find_orientation_value(ByteView exif, bool* big_endian) {
    Reader r;
    if (!open_block(exif, &r)) return 0;
    *big_endian = r.big_endian;
    std::uint32_t ifd = 0, count = 0;
    if (!r.u32(4, &ifd) || !r.u16(ifd, &count)) return 0;
    for (std::uint32_t i = 0; i < count; ++i) {
        std::size_t entry = std::size_t(ifd) + 2 + 12 * std::size_t(i);
        std::uint32_t tag = 0, type = 0;
        if (!r.u16(entry, &tag) || !r.u16(entry + 2, &type)) return 0;
        if (tag == kOrientationTag) return type == kExifShort && entry + 10 <= exif.size() ? entry + 8 : 0;
    }
    return 0;
}

// Reads the IFD at `offset` into `entries` (sorted by tag, the first of a repeated tag kept). The sub-IFD
// offsets go to *exif_ifd and *gps_ifd where given (0 when absent).
void read_ifd(const Reader& r, std::uint32_t offset, std::vector<ExifEntry>* entries, std::uint32_t* exif_ifd,
              std::uint32_t* gps_ifd) {
    std::uint32_t count = 0;
    if (offset < 8 || !r.u16(offset, &count) || count > kMaxEntries) return;
    for (std::uint32_t i = 0; i < count; ++i) {
        const std::size_t at = std::size_t(offset) + 2 + 12 * std::size_t(i);
        std::uint32_t tag = 0, type = 0, n = 0, field = 0;
        if (!r.u16(at, &tag) || !r.u16(at + 2, &type) || !r.u32(at + 4, &n) || !r.u32(at + 8, &field)) return;
        if (tag == kExifIfdTag || tag == kGpsIfdTag || tag == kInteropIfdTag) {
            std::uint32_t* pointer = tag == kExifIfdTag ? exif_ifd : tag == kGpsIfdTag ? gps_ifd : nullptr;
            if (pointer && (type == kExifLong || type == kTypeIfd) && n == 1) *pointer = field;
            continue;
        }
        const std::size_t size = exif_type_size(std::uint16_t(type));
        if (size == 0 || n == 0 || n > r.b.size() / size) continue;
        const std::size_t total = n * size;
        const std::size_t data = total <= 4 ? at + 8 : field;
        if (data > r.b.size() || total > r.b.size() - data) continue;
        ExifEntry entry{std::uint16_t(tag), std::uint16_t(type), n, Bytes(r.b.begin() + data, r.b.begin() + data + total)};
        if (r.big_endian) {  // to little-endian, element by element (a rational is two 32-bit integers)
            const std::size_t element = type == kExifRational || type == kExifSRational ? 4 : size;
            for (std::size_t e = 0; e + element <= total; e += element)
                std::reverse(entry.value.begin() + e, entry.value.begin() + e + element);
        }
        entries->push_back(std::move(entry));
    }
    std::stable_sort(entries->begin(), entries->end(), [](const ExifEntry& a, const ExifEntry& b) { return a.tag < b.tag; });
    entries->erase(std::unique(entries->begin(), entries->end(),
                               [](const ExifEntry& a, const ExifEntry& b) { return a.tag == b.tag; }),
                   entries->end());
}

void append_le16(Bytes* out, std::uint32_t v) {
    out->push_back(std::uint8_t(v));
    out->push_back(std::uint8_t(v >> 8));
}

// Bytes an IFD takes with its out-of-line values, each of which starts at an even offset.
std::size_t ifd_size(const std::vector<ExifEntry>& entries) {
    std::size_t size = 2 + 12 * entries.size() + 4;
    for (const ExifEntry& e : entries)
        if (e.value.size() > 4) size += e.value.size() + (e.value.size() & 1);
    return size;
}

// Appends an IFD (no next IFD) and its values; `out`'s size is the IFD's offset.
void write_ifd(Bytes* out, const std::vector<ExifEntry>& entries) {
    std::size_t data_at = out->size() + 2 + 12 * entries.size() + 4;
    Bytes data;
    append_le16(out, std::uint32_t(entries.size()));
    for (const ExifEntry& e : entries) {
        append_le16(out, e.tag);
        append_le16(out, e.type);
        append_le32(out, e.count);
        if (e.value.size() <= 4) {
            out->insert(out->end(), e.value.begin(), e.value.end());
            out->insert(out->end(), 4 - e.value.size(), 0);
        } else {
            append_le32(out, std::uint32_t(data_at + data.size()));
            data.insert(data.end(), e.value.begin(), e.value.end());
            if (data.size() & 1) data.push_back(0);
        }
    }
    append_le32(out, 0);
    out->insert(out->end(), data.begin(), data.end());
}

ExifEntry pointer_entry(std::uint16_t tag, std::size_t offset) {
    ExifEntry e{tag, kExifLong, 1, {}};
    append_le32(&e.value, std::uint32_t(offset));
    return e;
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

std::size_t exif_type_size(std::uint16_t type) {
    switch (type) {
    case kExifByte: case kExifAscii: case kExifSByte: case kExifUndefined: return 1;
    case kExifShort: case kExifSShort: return 2;
    case kExifLong: case kExifSLong: case kExifFloat: return 4;
    case kExifRational: case kExifSRational: case kExifDouble: return 8;
    default: return 0;
    }
}

bool parse_exif_ifds(ByteView block, ExifIfds* out) {
    *out = ExifIfds();
    Reader r;
    if (!open_block(block, &r)) return false;
    std::uint32_t ifd0 = 0, exif = 0, gps = 0;
    if (!r.u32(4, &ifd0)) return false;
    read_ifd(r, ifd0, &out->ifd0, &exif, &gps);
    if (exif) read_ifd(r, exif, &out->exif, nullptr, nullptr);
    if (gps) read_ifd(r, gps, &out->gps, nullptr, nullptr);
    return true;
}

Bytes build_exif(const ExifIfds& ifds) {
    if (ifds.empty()) return {};
    std::vector<ExifEntry> ifd0 = ifds.ifd0;
    // Pointer entries first with a placeholder, so that IFD0's size (and so the sub-IFDs' offsets) is known.
    if (!ifds.exif.empty()) ifd0.push_back(pointer_entry(kExifIfdTag, 0));
    if (!ifds.gps.empty()) ifd0.push_back(pointer_entry(kGpsIfdTag, 0));
    std::stable_sort(ifd0.begin(), ifd0.end(), [](const ExifEntry& a, const ExifEntry& b) { return a.tag < b.tag; });
    const std::size_t exif_at = 8 + ifd_size(ifd0);
    const std::size_t gps_at = exif_at + (ifds.exif.empty() ? 0 : ifd_size(ifds.exif));
    for (ExifEntry& e : ifd0) {
        if (e.tag == kExifIfdTag) e = pointer_entry(kExifIfdTag, exif_at);
        if (e.tag == kGpsIfdTag) e = pointer_entry(kGpsIfdTag, gps_at);
    }
    Bytes out = {'I', 'I', 42, 0, 8, 0, 0, 0};
    write_ifd(&out, ifd0);
    if (!ifds.exif.empty()) write_ifd(&out, ifds.exif);
    if (!ifds.gps.empty()) write_ifd(&out, ifds.gps);
    return out;
}

bool exif_integer(const ExifEntry& entry, std::uint32_t k, std::int64_t* value) {
    const std::size_t size = exif_type_size(entry.type);
    if (k >= entry.count || std::size_t(k + 1) * size > entry.value.size()) return false;
    const std::uint8_t* p = entry.value.data() + std::size_t(k) * size;
    switch (entry.type) {
    case kExifByte: *value = p[0]; return true;
    case kExifSByte: *value = std::int8_t(p[0]); return true;
    case kExifShort: *value = std::uint16_t(p[0] | (p[1] << 8)); return true;
    case kExifSShort: *value = std::int16_t(std::uint16_t(p[0] | (p[1] << 8))); return true;
    case kExifLong:
    case kExifSLong: {
        std::uint32_t v = 0;
        read_le32(ByteView(p, 4), 0, &v);
        *value = entry.type == kExifLong ? std::int64_t(v) : std::int64_t(std::int32_t(v));
        return true;
    }
    default: return false;
    }
}

bool exif_number(const ExifEntry& entry, std::uint32_t k, double* value) {
    const std::size_t size = exif_type_size(entry.type);
    if (k >= entry.count || std::size_t(k + 1) * size > entry.value.size()) return false;
    const ByteView p(entry.value.data() + std::size_t(k) * size, size);
    std::uint32_t a = 0, b = 0;
    switch (entry.type) {
    case kExifRational:
    case kExifSRational: {
        read_le32(p, 0, &a);
        read_le32(p, 4, &b);
        if (b == 0) return false;
        *value = entry.type == kExifRational ? double(a) / double(b) : double(std::int32_t(a)) / double(std::int32_t(b));
        return true;
    }
    case kExifFloat: {
        float f = 0;
        std::memcpy(&f, p.data(), 4);  // little-endian hosts only, like the rest of the image code
        *value = f;
        return true;
    }
    case kExifDouble: std::memcpy(value, p.data(), 8); return true;
    default: {
        std::int64_t v = 0;
        if (!exif_integer(entry, k, &v)) return false;
        *value = double(v);
        return true;
    }
    }
}

}  // namespace nalasr::detail
