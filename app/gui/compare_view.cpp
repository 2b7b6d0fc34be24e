#include "compare_view.h"

#include <QMouseEvent>
#include <QPainter>
#include <QWheelEvent>
#include <algorithm>
#include <cmath>

#include "image_display.h"

namespace nalasr::gui {
namespace {

constexpr double kMinZoom = 1.0 / 64;
constexpr double kMaxZoom = 64;
constexpr double kZoomStep = 1.25;
constexpr double kSplitGrabPixels = 6;

}  // namespace

CompareView::CompareView(QWidget* parent) : QWidget(parent) {
    setMouseTracking(true);
    setMinimumSize(240, 180);
    setFocusPolicy(Qt::StrongFocus);
    setAttribute(Qt::WA_OpaquePaintEvent);
}

void CompareView::set_images(const PreviewImages& images) {
    const QSize old_size = output_size();
    images_ = images;
    images_.scale = std::max(1, images.scale);
    message_.clear();
    if (output_size() != old_size) clear_other_result();  // it belonged to another image
    if (output_size() != old_size || fit_) zoom_to_fit();
    update();
}

void CompareView::clear(const QString& message) {
    images_ = PreviewImages();
    clear_other_result();
    message_ = message;
    update();
}

void CompareView::set_resampler(BeforeResampler resampler) {
    resampler_ = resampler;
    update();
}

QString CompareView::set_other_result(const QImage& other, const QString& label) {
    if (images_.input.isNull()) return tr("Select an image in the queue first");
    OtherResult fitted = fit_other_result(other, output_size(), label);
    if (!fitted.error.isEmpty()) return fitted.error;
    other_ = std::move(fitted);
    left_side_ = LeftSide::OtherResult;
    emit leftSideChanged();
    update();
    return {};
}

void CompareView::clear_other_result() {
    if (!has_other_result()) return;
    other_ = OtherResult();
    left_side_ = LeftSide::Before;
    emit leftSideChanged();
    update();
}

void CompareView::set_left_side(LeftSide side) {
    if (side == left_side_) return;
    left_side_ = side;
    emit leftSideChanged();
    update();
}

QSize CompareView::output_size() const {
    return images_.input.isNull() ? QSize() : images_.input.size() * images_.scale;
}

double CompareView::screen_scale() const { return zoom_ / devicePixelRatioF(); }

QRectF CompareView::image_rect() const {
    // Whole device pixels: at 100 % each output pixel then covers exactly one screen pixel.
    const double dpr = devicePixelRatioF();
    const QPointF origin(std::round(offset_.x() * dpr) / dpr, std::round(offset_.y() * dpr) / dpr);
    return {origin, QSizeF(output_size()) * screen_scale()};
}

QPointF CompareView::map_to_widget(QPointF output_point) const {
    return image_rect().topLeft() + output_point * screen_scale();
}

double CompareView::split_x() const { return std::round(width() * split_); }

bool CompareView::near_split(QPointF pos) const { return std::abs(pos.x() - split_x()) <= kSplitGrabPixels; }

void CompareView::set_zoom(double zoom, QPointF anchor) {
    zoom = std::clamp(zoom, kMinZoom, kMaxZoom);
    const QPointF image_point = (anchor - offset_) / screen_scale();
    zoom_ = zoom;
    offset_ = anchor - image_point * screen_scale();
    emit zoomChanged(zoom_);
    update();
}

void CompareView::zoom_in() {
    fit_ = false;
    // Stepping across 100 % lands on it exactly.
    const double next = zoom_ * kZoomStep;
    set_zoom(zoom_ < 1 && next > 1 ? 1.0 : next, rect().center());
}

void CompareView::zoom_out() {
    fit_ = false;
    const double next = zoom_ / kZoomStep;
    set_zoom(zoom_ > 1 && next < 1 ? 1.0 : next, rect().center());
}

void CompareView::zoom_to_fit() {
    fit_ = true;
    if (images_.input.isNull() || width() <= 0 || height() <= 0) return;
    const QSizeF size = output_size();
    const double dpr = devicePixelRatioF();
    zoom_ = std::clamp(std::min(width() / size.width(), height() / size.height()) * dpr, kMinZoom, kMaxZoom);
    offset_ = QPointF((width() - size.width() * screen_scale()) / 2, (height() - size.height() * screen_scale()) / 2);
    emit zoomChanged(zoom_);
    update();
}

void CompareView::zoom_to_actual_size() {
    fit_ = false;
    set_zoom(1.0, rect().center());
}

void CompareView::set_split(double split) {
    split_ = std::clamp(split, 0.0, 1.0);
    update();
}

const QImage& CompareView::before_image() const {
    const bool bicubic = resampler_ == BeforeResampler::Bicubic && !images_.input_bicubic.isNull();
    return bicubic ? images_.input_bicubic : images_.input;
}

const QImage& CompareView::left_image() const {
    return left_side() == LeftSide::OtherResult ? other_.image : before_image();
}

QString CompareView::left_label() const {
    if (left_side() == LeftSide::OtherResult) return tr("Other · %1").arg(other_.label);
    const bool bicubic = &before_image() == &images_.input_bicubic;
    return tr("Before · %1 ×%2").arg(bicubic ? tr("bicubic") : tr("nearest")).arg(images_.scale);
}

QString CompareView::right_label() const {
    return images_.after.isNull() ? tr("After · not upscaled yet") : tr("After · NalaSR ×%1").arg(images_.scale);
}

void CompareView::draw_side(QPainter& painter, const QRectF& clip, const QImage& image, bool smooth) {
    painter.save();
    painter.setClipRect(clip);
    // Enlarged pixels stay sharp squares (nearest); reduced views are smoothed.
    painter.setRenderHint(QPainter::SmoothPixmapTransform, smooth && zoom_ < 1);
    painter.drawImage(image_rect(), image);
    painter.restore();
}

void CompareView::draw_label(QPainter& painter, const QString& text, Qt::Alignment corner) {
    const QFontMetrics metrics(font());
    QRect box = metrics.boundingRect(text).adjusted(-6, -3, 6, 3);
    const int margin = 8;
    if (corner & Qt::AlignLeft) box.moveLeft(margin);
    else box.moveRight(width() - margin);
    if (corner & Qt::AlignTop) box.moveTop(margin);
    else box.moveBottom(height() - margin);
    painter.fillRect(box, QColor(0, 0, 0, 160));
    painter.setPen(Qt::white);
    painter.drawText(box, Qt::AlignCenter, text);
}

void CompareView::paintEvent(QPaintEvent*) {
    QPainter painter(this);
    painter.fillRect(rect(), QColor(0x30, 0x30, 0x30));
    if (images_.input.isNull()) {
        painter.setPen(QColor(0xc8, 0xc8, 0xc8));
        painter.drawText(rect().adjusted(20, 20, -20, -20), Qt::AlignCenter | Qt::TextWordWrap,
                         message_.isEmpty() ? tr("Open images (Ctrl+O), drop files or folders here, or paste (Ctrl+V).\n"
                                                 "Select an item to compare before and after.")
                                            : message_);
        return;
    }
    const double x = split_x();
    const QRectF left(0, 0, x, height());
    const QRectF right(x, 0, width() - x, height());
    const QImage& before = before_image();
    draw_side(painter, left, left_image(), true);
    if (!images_.after.isNull()) {
        draw_side(painter, right, images_.after, true);
    } else {
        draw_side(painter, right, before, true);
        painter.fillRect(right, QColor(0, 0, 0, 110));
    }

    painter.setPen(QPen(Qt::white, 2));
    painter.drawLine(QPointF(x, 0), QPointF(x, height()));
    painter.setRenderHint(QPainter::Antialiasing);
    painter.setBrush(QColor(0x20, 0x20, 0x20));
    painter.drawEllipse(QPointF(x, height() / 2.0), 9, 9);

    draw_label(painter, left_label(), Qt::AlignTop | Qt::AlignLeft);
    draw_label(painter, right_label(), Qt::AlignTop | Qt::AlignRight);
    draw_label(painter, tr("%1 × %2 · %3 %").arg(output_size().width()).arg(output_size().height())
                            .arg(zoom_ * 100, 0, 'f', zoom_ < 0.1 ? 1 : 0),
               Qt::AlignBottom | Qt::AlignLeft);
}

void CompareView::resizeEvent(QResizeEvent*) {
    if (fit_) zoom_to_fit();
}

void CompareView::wheelEvent(QWheelEvent* event) {
    if (images_.input.isNull()) return;
    fit_ = false;
    const double steps = event->angleDelta().y() / 120.0;
    set_zoom(zoom_ * std::pow(kZoomStep, steps), event->position());
    event->accept();
}

void CompareView::mousePressEvent(QMouseEvent* event) {
    if (event->button() != Qt::LeftButton || images_.input.isNull()) return;
    drag_ = near_split(event->position()) ? Drag::Split : Drag::Pan;
    last_pos_ = event->position();
    if (drag_ == Drag::Pan) setCursor(Qt::ClosedHandCursor);
}

void CompareView::mouseMoveEvent(QMouseEvent* event) {
    const QPointF pos = event->position();
    if (drag_ == Drag::Split) {
        set_split(pos.x() / std::max(1, width()));
    } else if (drag_ == Drag::Pan) {
        fit_ = false;
        offset_ += pos - last_pos_;
        update();
    } else {
        update_cursor(pos);
    }
    last_pos_ = pos;
}

void CompareView::mouseReleaseEvent(QMouseEvent* event) {
    drag_ = Drag::None;
    update_cursor(event->position());
}

void CompareView::mouseDoubleClickEvent(QMouseEvent* event) {
    if (images_.input.isNull()) return;
    if (fit_) {
        fit_ = false;
        set_zoom(1.0, event->position());
    } else {
        zoom_to_fit();
    }
}

void CompareView::update_cursor(QPointF pos) {
    if (images_.input.isNull()) unsetCursor();
    else setCursor(near_split(pos) ? Qt::SplitHCursor : Qt::OpenHandCursor);
}

}  // namespace nalasr::gui
