// Engine images → QImages for the screen (8-bit RGBA; the engine's own pixels stay untouched), and the
// enlargement of the input that the compare view's "before" side shows.
#pragma once

#include <QImage>
#include <QString>

#include "nalasr/image.h"

namespace nalasr::gui {

// An 8-bit copy for display: grey stays grey, alpha is kept, 16-bit and float are scaled to 0..255.
QImage to_display_image(const Image& image);
// "1920×1080 · RGB 16-bit".
QString describe_image(const Image& image);
// The image enlarged `scale` times with bicubic interpolation (Format_RGBA8888); null when the result
// would exceed `max_pixels` (the view then falls back to nearest).
QImage bicubic_upscale(const QImage& image, int scale, qint64 max_pixels);

// What the compare view shows for one queue item.
struct PreviewImages {
    QImage input;          // at its own size
    QImage input_bicubic;  // input enlarged to the output size; may be null
    int scale = 1;
    QImage after;  // the upscaled result; null when not upscaled yet
};

}  // namespace nalasr::gui
