// A minimal PNG encoder for grey + alpha (colour type 4), 8 or 16 bits: IHDR, one IDAT, IEND; filter 0.
#include <bit>

#include "image_codec.h"

namespace nalasr::detail {

static_assert(std::endian::native == std::endian::little, "the 16-bit row swap below assumes a little-endian host");

Bytes encode_png_grey_alpha(const Image& image, int compression) {
    const int bit_depth = image.type == SampleType::U16 ? 16 : 8;
    const std::size_t row_bytes = image.row_bytes();
    Bytes raw;  // each row: filter byte 0, then big-endian samples
    raw.reserve((row_bytes + 1) * image.height);
    for (int y = 0; y < image.height; ++y) {
        raw.push_back(0);
        const std::uint8_t* row = image.pixels.data() + row_bytes * y;
        if (bit_depth == 8) {
            raw.insert(raw.end(), row, row + row_bytes);
        } else {
            for (std::size_t i = 0; i < row_bytes; i += 2) {  // host order is little-endian
                raw.push_back(row[i + 1]);
                raw.push_back(row[i]);
            }
        }
    }
    Bytes ihdr;
    append_be32(&ihdr, std::uint32_t(image.width));
    append_be32(&ihdr, std::uint32_t(image.height));
    ihdr.insert(ihdr.end(), {std::uint8_t(bit_depth), 4, 0, 0, 0});  // depth, grey+alpha, deflate, filter, no interlace

    Bytes png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    append_png_chunk(&png, "IHDR", ihdr);
    append_png_chunk(&png, "IDAT", zlib_deflate(raw, compression));
    append_png_chunk(&png, "IEND", {});
    return png;
}

}  // namespace nalasr::detail
