// Bounds-checked big/little-endian reads and writes on byte buffers, for the container parsers (PNG chunks,
// JPEG markers, RIFF/WebP chunks, BMP headers, EXIF IFDs). Readers return false instead of reading past the end.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace nalasr::detail {

using Bytes = std::vector<std::uint8_t>;
using ByteView = std::span<const std::uint8_t>;

inline bool read_be16(ByteView b, std::size_t at, std::uint32_t* v) {
    if (at + 2 > b.size()) return false;
    *v = (std::uint32_t(b[at]) << 8) | b[at + 1];
    return true;
}
inline bool read_be32(ByteView b, std::size_t at, std::uint32_t* v) {
    if (at + 4 > b.size()) return false;
    *v = (std::uint32_t(b[at]) << 24) | (std::uint32_t(b[at + 1]) << 16) | (std::uint32_t(b[at + 2]) << 8) | b[at + 3];
    return true;
}
inline bool read_le16(ByteView b, std::size_t at, std::uint32_t* v) {
    if (at + 2 > b.size()) return false;
    *v = std::uint32_t(b[at]) | (std::uint32_t(b[at + 1]) << 8);
    return true;
}
inline bool read_le24(ByteView b, std::size_t at, std::uint32_t* v) {
    if (at + 3 > b.size()) return false;
    *v = std::uint32_t(b[at]) | (std::uint32_t(b[at + 1]) << 8) | (std::uint32_t(b[at + 2]) << 16);
    return true;
}
inline bool read_le32(ByteView b, std::size_t at, std::uint32_t* v) {
    if (at + 4 > b.size()) return false;
    *v = std::uint32_t(b[at]) | (std::uint32_t(b[at + 1]) << 8) | (std::uint32_t(b[at + 2]) << 16) |
         (std::uint32_t(b[at + 3]) << 24);
    return true;
}

inline void append_be16(Bytes* out, std::uint32_t v) {
    out->push_back(std::uint8_t(v >> 8));
    out->push_back(std::uint8_t(v));
}
inline void append_be32(Bytes* out, std::uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) out->push_back(std::uint8_t(v >> shift));
}
inline void append_le32(Bytes* out, std::uint32_t v) {
    for (int shift = 0; shift <= 24; shift += 8) out->push_back(std::uint8_t(v >> shift));
}
inline void write_le32(Bytes* out, std::size_t at, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) (*out)[at + i] = std::uint8_t(v >> (8 * i));
}

inline bool starts_with(ByteView b, std::size_t at, const char* text, std::size_t n) {
    if (at + n > b.size()) return false;
    for (std::size_t i = 0; i < n; ++i)
        if (b[at + i] != std::uint8_t(text[i])) return false;
    return true;
}

}  // namespace nalasr::detail
