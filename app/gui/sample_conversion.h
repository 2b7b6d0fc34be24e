// The output bit depth the user picks, and the sample conversion that applies it before saving.
#pragma once

#include <QString>

#include "nalasr/image.h"

namespace nalasr::gui {

enum class OutputBitDepth { KeepInput, U8, U16, F32 };

const char* output_bit_depth_id(OutputBitDepth depth);  // "keep", "8", "16", "f32"
OutputBitDepth output_bit_depth_from_id(const QString& id);

// `image` with its samples converted to `type` (metadata kept). Integers map to [0, 1] by their maximum;
// u8 ↔ u16 is ×257 / ÷257 rounded, so u8 → u16 → u8 is exact. Float input is clamped to [0, 1], every
// narrowing rounds to nearest.
Image convert_samples(const Image& image, SampleType type);
// `image` as the chosen output depth (unchanged for KeepInput).
Image with_bit_depth(Image image, OutputBitDepth depth);

}  // namespace nalasr::gui
