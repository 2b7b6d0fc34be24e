// The one EXIF field we act on: orientation (tag 0x0112 in IFD0).
#pragma once

#include "image_bytes.h"

namespace nalasr::detail {

// EXIF orientation 1..8; 1 when the block is absent, malformed or has no orientation tag.
int exif_orientation(ByteView exif);
// Sets the orientation tag to 1 (pixels already upright); no-op when there is no such tag.
void exif_reset_orientation(Bytes* exif);

}  // namespace nalasr::detail
