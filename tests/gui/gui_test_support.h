// Fixtures for the GUI tests: a tiny random model on disk and images with random pixels.
#pragma once

#include <QImage>
#include <QString>

#include "nalasr/image.h"
#include "nalasr/model.h"

namespace nalasr::gui::test {

// The tiny network of the tests: C=16, heads=2, G=1, B=1, ×2, random weights.
ModelConfig tiny_config();
// Saves a random model of tiny_config() as `path` (safetensors); fails the test on error.
void write_tiny_model(const QString& path);
// An RGB 8-bit image with random pixels (never all zero), deterministic in `seed`.
Image random_image(int width, int height, int channels, std::uint32_t seed);
void write_random_png(const QString& path, int width, int height, std::uint32_t seed);
// An opaque RGBA QImage with random colours (never black or white), deterministic in `seed`.
QImage random_qimage(int width, int height, std::uint32_t seed);
// A file that starts like a PNG and then is garbage.
void write_corrupt_png(const QString& path);

}  // namespace nalasr::gui::test
