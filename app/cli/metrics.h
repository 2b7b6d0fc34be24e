// Image quality metrics as published super-resolution tables compute them: PSNR and SSIM on the BT.601 luma
// (Y) channel of 8-bit RGB images, with `shave` border pixels removed on each side. Not part of the engine.
#pragma once

#include <cstdint>
#include <vector>

namespace nalasr::cli {

// One channel of doubles, row-major.
struct Plane {
    int width = 0;
    int height = 0;
    std::vector<double> values;
    double at(int x, int y) const { return values[std::size_t(y) * width + x]; }
};

// Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255 for 8-bit R, G, B: values in [16, 235], not rounded.
// `channels` 1 (grey: R = G = B) or 3/4 (interleaved RGB[A]; alpha ignored).
Plane luma_bt601(const std::uint8_t* pixels, int width, int height, int channels);

// The plane without `shave` pixels on each side.
Plane shave_border(const Plane& plane, int shave);

// PSNR in dB for a peak of 255; +infinity for identical planes. Planes must have the same size.
double psnr(const Plane& a, const Plane& b);

// Mean SSIM (Wang et al. 2004) with an 11x11 Gaussian window (sigma 1.5), K1 0.01, K2 0.03, data range 255,
// over the 'valid' window positions — the MATLAB ssim_index / BasicSR convention. Needs planes of 11x11 or more.
double ssim(const Plane& a, const Plane& b);

}  // namespace nalasr::cli
