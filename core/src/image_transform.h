// Pixel-level conversions used by loading and saving: EXIF orientation, sample type, channel layout.
#pragma once

#include "nalasr/image.h"

namespace nalasr::detail {

// Returns `in` turned upright for an EXIF orientation (1..8); metadata is copied unchanged.
Image apply_orientation(const Image& in, int orientation);

// Converts samples: widening is exact, narrowing rounds (u16 → u8: v/257; f32 → u8/u16: clamp to [0, 1]).
Image convert_sample_type(const Image& in, SampleType type);

// Changes the channel count: grey ↔ RGB by replication / BT.601 luma, alpha added (opaque) or dropped.
Image convert_channels(const Image& in, int channels);

}  // namespace nalasr::detail
