// PNG scanline filtering for our PNG writer (image_png_writer.cpp).
#pragma once

#include <cstdint>

#include "nalasr/image.h"

namespace nalasr::detail {

// Writes the image's PNG scanlines to `out` ((row_bytes + 1) * height bytes): per row the filter type byte, then
// the row's samples in PNG byte order (16-bit big-endian) filtered with the Average filter (type 3).
// U8 and U16 images only.
void png_filter_scanlines(const Image& image, std::uint8_t* out);

}  // namespace nalasr::detail
