// Images with random samples for tests and fuzz seeds: deterministic in `seed`, never all zero.
#pragma once

#include <cstdint>
#include <random>

#include "nalasr/image.h"

namespace nalasr::test {

inline Image random_image(int w, int h, int c, SampleType type, unsigned seed) {
    Image im;
    im.allocate(w, h, c, type);
    std::mt19937 rng(seed);
    if (type == SampleType::F32) {
        float* px = reinterpret_cast<float*>(im.pixels.data());
        for (std::size_t i = 0; i < im.pixels.size() / 4; ++i) px[i] = float(rng() % 1000) / 999.0f;
    } else {
        for (auto& byte : im.pixels) byte = std::uint8_t(rng());
    }
    return im;
}

}  // namespace nalasr::test
