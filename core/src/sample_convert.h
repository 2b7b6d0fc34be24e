// Conversions between Images (u8/u16/f32, 1-4 channels) and the network's float RGB in [0, 1].
#pragma once

#include <vector>

#include "nalasr/image.h"

namespace nalasr {

// Checks geometry, channel count and buffer size; f32 samples must be finite.
Status check_image(const Image& image);

// Colour channels as float RGB (H, W, 3) in [0, 1] (integers divided by their maximum, f32 as is).
// Grey goes in as R = G = B.
std::vector<float> colour_to_rgb(const Image& image);

// The alpha channel as floats in [0, 1] (H, W); empty when the image has none.
std::vector<float> alpha_plane(const Image& image);

// Builds an image of `channels` channels and sample type `type` from network RGB (H, W, 3) and an optional
// alpha plane of the same size. Grey output is the mean of R, G and B. Integer types are rounded and clamped
// to their range; f32 colour is left unclamped, f32 alpha is clamped to [0, 1].
void rgb_to_image(const std::vector<float>& rgb, const std::vector<float>& alpha, int width, int height,
                  int channels, SampleType type, Image* out);

// Writes an alpha plane (width × height of `image`) into the image's alpha channel exactly as rgb_to_image does
// (clamped to [0, 1], integer types rounded). For images whose colour was converted elsewhere (on the GPU).
void write_alpha(const std::vector<float>& alpha, Image* image);

}  // namespace nalasr
