#include "other_result.h"

#include <QCoreApplication>
#include <cmath>

namespace nalasr::gui {
namespace {

// Resampled results round their sizes (61×45 at ×1.5 is 92×68, at ×4 244×180), so two results of one image
// may differ slightly in aspect; anything beyond this is another picture, or a crop.
constexpr double kAspectTolerance = 0.01;

QString tr(const char* text) { return QCoreApplication::translate("OtherResult", text); }

}  // namespace

OtherResult fit_other_result(const QImage& image, QSize output_size, const QString& label) {
    OtherResult result;
    result.label = label;
    if (image.isNull() || output_size.isEmpty()) {
        result.error = tr("%1: nothing to compare with").arg(label);
        return result;
    }
    const double other_aspect = double(image.width()) / image.height();
    const double output_aspect = double(output_size.width()) / output_size.height();
    if (std::abs(other_aspect / output_aspect - 1) > kAspectTolerance) {
        result.error = tr("%1 is %2 × %3 and the result is %4 × %5: the aspect ratios differ, so they cannot be "
                          "compared pixel for pixel")
                           .arg(label)
                           .arg(image.width())
                           .arg(image.height())
                           .arg(output_size.width())
                           .arg(output_size.height());
        return result;
    }
    const QImage rgba = image.convertToFormat(QImage::Format_RGBA8888);
    result.image = rgba.size() == output_size
                       ? rgba
                       : rgba.scaled(output_size, Qt::IgnoreAspectRatio, Qt::SmoothTransformation);
    return result;
}

}  // namespace nalasr::gui
