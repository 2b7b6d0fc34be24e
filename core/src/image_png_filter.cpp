// PNG scanline filtering. One fixed filter for every row, Average (type 3): on upscaled photos it compressed as well
// as or better than Sub, Up, Paeth and libpng's per-row minimum-sum-of-absolute-differences choice (which mostly
// picks Paeth, which deflates worse here), and it costs a few ms per 4K image where Paeth or the per-row choice
// cost 35-90 ms. Measurements: docs/benchmarks.md ("PNG writing").
#include "image_png_filter.h"

#include <bit>
#include <cstring>
#include <vector>

namespace nalasr::detail {
namespace {

static_assert(std::endian::native == std::endian::little, "16-bit rows are byte-swapped to PNG's big-endian order");

// Average filter: out[i] = row[i] - floor((left + up) / 2), left = row[i - bpp] (0 in the first pixel), up = prev[i].
void filter_average(const std::uint8_t* row, const std::uint8_t* prev, std::size_t n, std::size_t bpp,
                    std::uint8_t* out) {
    for (std::size_t i = 0; i < bpp; ++i) out[i] = std::uint8_t(row[i] - (prev[i] >> 1));
    for (std::size_t i = bpp; i < n; ++i) out[i] = std::uint8_t(row[i] - ((unsigned(row[i - bpp]) + prev[i]) >> 1));
}

void to_big_endian_16(const std::uint8_t* row, std::size_t n, std::uint8_t* out) {
    for (std::size_t i = 0; i < n; i += 2) {
        out[i] = row[i + 1];
        out[i + 1] = row[i];
    }
}

}  // namespace

void png_filter_scanlines(const Image& image, std::uint8_t* out) {
    const std::size_t n = image.row_bytes();
    const std::size_t bpp = std::size_t(image.channels) * sample_size(image.type);
    const bool swap = image.type == SampleType::U16;
    // The previous row, and for 16-bit the current one, in PNG byte order; the row above the first is zeros.
    std::vector<std::uint8_t> prev(n, 0), current(swap ? n : 0);
    const std::uint8_t* up = prev.data();
    for (int y = 0; y < image.height; ++y) {
        const std::uint8_t* row = image.pixels.data() + n * std::size_t(y);
        if (swap) {
            to_big_endian_16(row, n, current.data());
            row = current.data();
        }
        std::uint8_t* line = out + (n + 1) * std::size_t(y);
        line[0] = 3;  // Average
        filter_average(row, up, n, bpp, line + 1);
        if (swap) {
            prev.swap(current);
            up = prev.data();
        } else {
            up = row;
        }
    }
}

}  // namespace nalasr::detail
