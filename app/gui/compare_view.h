// Before/after preview: one view of the output's pixel grid, split by a draggable vertical line. Left of the
// line: the input enlarged to the output's size (nearest or bicubic), or another result (a second model's
// output, any image of the same aspect); right: the upscaled result. Both sides always show the same region,
// so zoom (wheel, Ctrl+=/-, fit, 100 %) and pan (drag) are shared.
// At 100 % one output pixel is one device pixel, on an integer offset: pixel-accurate.
#pragma once

#include <QImage>
#include <QWidget>

#include "app_settings.h"
#include "image_display.h"
#include "other_result.h"

namespace nalasr::gui {

// What the left side of the split shows.
enum class LeftSide { Before, OtherResult };

class CompareView : public QWidget {
    Q_OBJECT
public:
    explicit CompareView(QWidget* parent = nullptr);

    // The view stays where it was when the output size is unchanged, otherwise it fits the new image.
    // Without `input_bicubic` the before side is drawn with nearest.
    void set_images(const PreviewImages& images);
    // No image: shows `message` (or the drop hint) instead.
    void clear(const QString& message = {});
    void set_resampler(BeforeResampler resampler);

    // Keeps `other` (fitted to the output size) for the left side and shows it; returns why it cannot be
    // compared (the left side then stays as it was), or an empty string. Dropped when the output size changes.
    QString set_other_result(const QImage& other, const QString& label);
    void clear_other_result();
    bool has_other_result() const { return !other_.image.isNull(); }
    const QString& other_label() const { return other_.label; }
    // OtherResult needs an other result; without one the left side shows Before.
    void set_left_side(LeftSide side);
    LeftSide left_side() const { return has_other_result() ? left_side_ : LeftSide::Before; }
    // The corner labels of the two sides, as drawn.
    QString left_label() const;
    QString right_label() const;

    double zoom() const { return zoom_; }    // device pixels per output pixel
    double split() const { return split_; }  // position of the line, 0..1 of the width
    QSize output_size() const;
    bool has_after() const { return !images_.after.isNull(); }
    // Where an output-pixel coordinate lands in the widget (logical pixels).
    QPointF map_to_widget(QPointF output_point) const;

public slots:
    void zoom_in();
    void zoom_out();
    void zoom_to_fit();
    void zoom_to_actual_size();
    void set_split(double split);

signals:
    void zoomChanged(double zoom);
    void leftSideChanged();  // the other result came or went, or the left side switched

protected:
    void paintEvent(QPaintEvent* event) override;
    void resizeEvent(QResizeEvent* event) override;
    void wheelEvent(QWheelEvent* event) override;
    void mousePressEvent(QMouseEvent* event) override;
    void mouseMoveEvent(QMouseEvent* event) override;
    void mouseReleaseEvent(QMouseEvent* event) override;
    void mouseDoubleClickEvent(QMouseEvent* event) override;

private:
    enum class Drag { None, Pan, Split };

    double screen_scale() const;  // logical pixels per output pixel
    QRectF image_rect() const;    // the output image's rectangle in the widget
    double split_x() const;
    bool near_split(QPointF pos) const;
    void set_zoom(double zoom, QPointF anchor);
    void update_cursor(QPointF pos);
    const QImage& before_image() const;  // the input, or its bicubic enlargement
    const QImage& left_image() const;    // before_image() or the other result
    void draw_side(QPainter& painter, const QRectF& clip, const QImage& image, bool smooth);
    void draw_label(QPainter& painter, const QString& text, Qt::Alignment corner);

    PreviewImages images_;
    BeforeResampler resampler_ = BeforeResampler::Bicubic;
    OtherResult other_;
    LeftSide left_side_ = LeftSide::Before;
    QString message_;

    double zoom_ = 1;
    QPointF offset_;  // widget position of the output image's top-left corner
    bool fit_ = true;  // refit on resize until the user zooms or pans
    double split_ = 0.5;
    Drag drag_ = Drag::None;
    QPointF last_pos_;
};

}  // namespace nalasr::gui
