// Our PNG encoder for every layout we write (grey, grey + alpha, RGB, RGBA; 8 or 16 bits): IHDR, one IDAT, IEND.
// It replaces OpenCV's imencode, whose libpng + zlib took ~1 s of CPU per 4K image at level 3 and made PNG output
// the bottleneck of GPU batches: here rows get one cheap fixed filter (image_png_filter.cpp) and the whole buffer
// is compressed in one call by libdeflate, 5-7x faster at a similar or smaller size (docs/benchmarks.md).
#include <libdeflate.h>

#include <algorithm>
#include <memory>

#include "image_codec.h"
#include "image_png_filter.h"

namespace nalasr::detail {
namespace {

// png_compression 0..9 on libdeflate's 0..12 scale. 0 stores; 1-3 (3 is the default) take libdeflate's fastest
// level, which on upscaled photos is already smaller than OpenCV's level 3; 4-9 trade time for size. Not beyond 9:
// libdeflate 12 took 10 s for one 4K image (level 9: 7.7 s, 16 % smaller than the default).
int libdeflate_level(int png_compression) {
    constexpr int kLevels[10] = {0, 1, 1, 1, 2, 4, 6, 7, 8, 9};
    return kLevels[std::clamp(png_compression, 0, 9)];
}

std::uint8_t colour_type(int channels) {
    switch (channels) {
    case 1: return 0;  // grey
    case 2: return 4;  // grey + alpha
    case 3: return 2;  // RGB
    default: return 6;  // RGBA
    }
}

// One IDAT unless the stream exceeds a chunk's length limit (2^31 - 1): then consecutive IDATs, as PNG allows.
constexpr std::size_t kMaxIdat = std::size_t(1) << 30;

struct CompressorFree {
    void operator()(libdeflate_compressor* c) const { libdeflate_free_compressor(c); }
};

}  // namespace

Status encode_png(const Image& image, int compression, Bytes* out) {
    if (image.type == SampleType::F32 || image.channels < 1 || image.channels > 4)
        return {StatusCode::Internal, "PNG writer asked for a layout PNG cannot hold"};
    const std::size_t scanlines_size = (image.row_bytes() + 1) * std::size_t(image.height);
    Bytes scanlines(scanlines_size);
    png_filter_scanlines(image, scanlines.data());

    std::unique_ptr<libdeflate_compressor, CompressorFree> compressor(
        libdeflate_alloc_compressor(libdeflate_level(compression)));
    if (!compressor) return {StatusCode::Internal, "libdeflate: cannot allocate a compressor"};
    Bytes idat(libdeflate_zlib_compress_bound(compressor.get(), scanlines_size));
    const std::size_t idat_size =
        libdeflate_zlib_compress(compressor.get(), scanlines.data(), scanlines_size, idat.data(), idat.size());
    if (idat_size == 0) return {StatusCode::Internal, "libdeflate: compression failed"};  // cannot happen at the bound
    idat.resize(idat_size);
    Bytes().swap(scanlines);  // release before the output copy

    Bytes ihdr;
    append_be32(&ihdr, std::uint32_t(image.width));
    append_be32(&ihdr, std::uint32_t(image.height));
    const std::uint8_t bit_depth = image.type == SampleType::U16 ? 16 : 8;
    ihdr.insert(ihdr.end(), {bit_depth, colour_type(image.channels), 0, 0, 0});  // deflate, filter set 0, no interlace

    out->assign({0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'});
    out->reserve(8 + 25 + idat_size + 12 * (idat_size / kMaxIdat + 2));
    append_png_chunk(out, "IHDR", ihdr);
    for (std::size_t at = 0; at < idat_size; at += kMaxIdat)
        append_png_chunk(out, "IDAT", ByteView(idat).subspan(at, std::min(kMaxIdat, idat_size - at)));
    append_png_chunk(out, "IEND", {});
    return Status::ok();
}

}  // namespace nalasr::detail
