#include "image_loader.h"

#include <QtConcurrent/QtConcurrentRun>

#include "image_display.h"
#include "nalasr/image.h"
#include "path_util.h"

namespace nalasr::gui {
namespace {

constexpr int kThumbnailSize = 64;
// The bicubic "before" image is made at output size; above this it would cost too much memory.
constexpr qint64 kMaxBicubicPixels = 64ll << 20;

// Loads a file for display; on failure returns a null image and sets `error`.
QImage load_for_display(const QString& path, QString* error, QString* info = nullptr) {
    Image image;
    if (Status st = load_image(to_fs_path(path), &image); !st) {
        *error = QString::fromStdString(st.message());
        return {};
    }
    if (info) *info = describe_image(image);
    QImage display = to_display_image(image);
    if (display.isNull()) *error = QStringLiteral("%1: too large to display").arg(path);
    return display;
}

}  // namespace

ImageLoader::ImageLoader(QObject* parent) : QObject(parent) {
    qRegisterMetaType<nalasr::gui::PreviewImages>();
    // One thread each: decoding is memory-hungry, and the upscaler needs the cores more.
    thumbnail_pool_.setMaxThreadCount(1);
    preview_pool_.setMaxThreadCount(1);
}

ImageLoader::~ImageLoader() {
    thumbnail_pool_.clear();
    preview_pool_.clear();
    thumbnail_pool_.waitForDone();
    preview_pool_.waitForDone();
}

void ImageLoader::load_thumbnail(quint64 id, const QString& path) {
    (void)QtConcurrent::run(&thumbnail_pool_, [this, id, path] {
        QString error, info;
        const QImage image = load_for_display(path, &error, &info);
        if (image.isNull()) {
            emit thumbnailFailed(id, error);
            return;
        }
        emit thumbnailLoaded(id, image.scaled(kThumbnailSize, kThumbnailSize, Qt::KeepAspectRatio,
                                              Qt::SmoothTransformation),
                             info);
    });
}

void ImageLoader::load_preview(quint64 id, const QString& input, const QString& output, int scale) {
    const quint64 request = ++preview_request_;
    preview_pool_.clear();  // queued, not yet started requests are obsolete
    (void)QtConcurrent::run(&preview_pool_, [this, request, id, input, output, scale] {
        QString error;
        PreviewImages images;
        images.scale = scale;
        images.input = load_for_display(input, &error);
        if (request != preview_request_ || images.input.isNull()) {
            if (request == preview_request_) emit previewLoaded(id, images, error);
            return;
        }
        if (!output.isEmpty()) images.after = load_for_display(output, &error);
        if (!images.after.isNull()) images.scale = std::max(1, images.after.width() / images.input.width());
        if (request != preview_request_) return;
        images.input_bicubic = bicubic_upscale(images.input, images.scale, kMaxBicubicPixels);
        if (request != preview_request_) return;
        emit previewLoaded(id, images, error);
    });
}

void ImageLoader::load_other_result(const QString& path) {
    // The thumbnail thread: the preview thread drops queued work whenever the selection moves.
    (void)QtConcurrent::run(&thumbnail_pool_, [this, path] {
        QString error;
        const QImage image = load_for_display(path, &error);
        emit otherResultLoaded(path, image, error);
    });
}

}  // namespace nalasr::gui
