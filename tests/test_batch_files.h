// Builders for the test files of the batch tests: every input layout we read, and every kind of bad input
// (corrupt, truncated, empty, not an image, unsupported depth, a header claiming huge dimensions).
#pragma once

#include <tiffio.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "image_container.h"  // core/src: PNG chunks and zlib, to build files OpenCV cannot write
#include "nalasr/image.h"
#include "test_cli_support.h"

namespace nalasr::test {

using Bytes = std::vector<std::uint8_t>;

inline Bytes read_bytes(const fs::path& path) {
    const std::string text = read_text(path);
    return Bytes(text.begin(), text.end());
}

inline void write_bytes(const fs::path& path, const Bytes& bytes) {
    write_text(path, std::string(bytes.begin(), bytes.end()));
}

// A minimal little-endian EXIF block (TIFF structure) whose IFD0 holds only the orientation tag.
inline Bytes exif_with_orientation(int orientation) {
    return {'I', 'I', 42, 0, 8, 0, 0, 0,                                // header, IFD0 at 8
            1, 0,                                                       // one entry
            0x12, 0x01, 3, 0, 1, 0, 0, 0, std::uint8_t(orientation), 0, 0, 0,  // 0x0112 SHORT ×1
            0, 0, 0, 0};                                                // no next IFD
}

// An 8-bit palette PNG (colour type 3), which OpenCV cannot write.
inline Bytes palette_png(int w, int h) {
    Bytes png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    Bytes ihdr;
    detail::append_be32(&ihdr, std::uint32_t(w));
    detail::append_be32(&ihdr, std::uint32_t(h));
    ihdr.insert(ihdr.end(), {8, 3, 0, 0, 0});
    detail::append_png_chunk(&png, "IHDR", ihdr);
    const Bytes palette = {255, 0, 0, 0, 255, 0, 0, 0, 255, 250, 250, 250};
    detail::append_png_chunk(&png, "PLTE", palette);
    Bytes rows;
    for (int y = 0; y < h; ++y) {
        rows.push_back(0);  // filter: none
        for (int x = 0; x < w; ++x) rows.push_back(std::uint8_t((x * 7 + y * 3) % 4));
    }
    detail::append_png_chunk(&png, "IDAT", detail::zlib_deflate(rows, 6));
    detail::append_png_chunk(&png, "IEND", {});
    return png;
}

// A well-formed PNG whose header claims w x h pixels, with a few bytes of data: a decompression bomb's shape.
inline Bytes huge_header_png(std::uint32_t w, std::uint32_t h) {
    Bytes png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    Bytes ihdr;
    detail::append_be32(&ihdr, w);
    detail::append_be32(&ihdr, h);
    ihdr.insert(ihdr.end(), {8, 2, 0, 0, 0});
    detail::append_png_chunk(&png, "IHDR", ihdr);
    detail::append_png_chunk(&png, "IDAT", detail::zlib_deflate(Bytes(64, 0), 6));
    detail::append_png_chunk(&png, "IEND", {});
    return png;
}

// A TIFF with `pages` pages of w x h samples of `bits` bits in `format` (SAMPLEFORMAT_*), grey.
inline bool write_tiff(const fs::path& path, int w, int h, int bits, int format, int pages) {
    TIFF* tif = TIFFOpen(path.c_str(), "w");
    if (!tif) return false;
    std::vector<std::uint8_t> row(std::size_t(w) * bits / 8);
    for (std::size_t i = 0; i < row.size(); ++i) row[i] = std::uint8_t(i * 37 + 11);
    if (format == SAMPLEFORMAT_IEEEFP && bits == 64)  // plain values, no NaN bit patterns
        for (int x = 0; x < w; ++x) {
            const double v = 0.25 + 0.5 * x / w;
            std::memcpy(&row[std::size_t(x) * 8], &v, 8);
        }
    bool ok = true;
    for (int page = 0; page < pages && ok; ++page) {
        TIFFSetField(tif, TIFFTAG_IMAGEWIDTH, std::uint32_t(w));
        TIFFSetField(tif, TIFFTAG_IMAGELENGTH, std::uint32_t(h));
        TIFFSetField(tif, TIFFTAG_SAMPLESPERPIXEL, std::uint16_t(1));
        TIFFSetField(tif, TIFFTAG_BITSPERSAMPLE, std::uint16_t(bits));
        TIFFSetField(tif, TIFFTAG_SAMPLEFORMAT, std::uint16_t(format));
        TIFFSetField(tif, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISBLACK);
        TIFFSetField(tif, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
        TIFFSetField(tif, TIFFTAG_ROWSPERSTRIP, std::uint32_t(h));
        for (int y = 0; y < h && ok; ++y) ok = TIFFWriteScanline(tif, row.data(), std::uint32_t(y), 0) >= 0;
        ok = ok && TIFFWriteDirectory(tif);
    }
    TIFFClose(tif);
    return ok;
}

}  // namespace nalasr::test
