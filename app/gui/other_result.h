// A second result for the left side of the compare view (another model's output, or any image the user picks),
// brought onto the output's pixel grid so the split compares the same pixels on both sides.
#pragma once

#include <QImage>
#include <QSize>
#include <QString>

namespace nalasr::gui {

struct OtherResult {
    QImage image;   // at the output's size; null when refused (see `error`)
    QString label;  // what it is: a model or file name
    QString error;  // why it cannot be compared
};

// `image` as is when it already has `output_size` (pixel-exact), otherwise resampled to it. An image whose
// aspect ratio differs from the output's is refused rather than distorted.
OtherResult fit_other_result(const QImage& image, QSize output_size, const QString& label);

}  // namespace nalasr::gui
