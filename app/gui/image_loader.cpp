#include "image_loader.h"

#include <QtConcurrent/QtConcurrentRun>

#include "image_display.h"
#include "nalasr/image.h"
#include "path_util.h"

namespace nalasr::gui {
namespace {

constexpr int kThumbnailSize = 64;

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

void ImageLoader::load_preview(quint64 id, const QString& input, const QString& output) {
    const quint64 request = ++preview_request_;
    preview_pool_.clear();  // queued, not yet started requests are obsolete
    (void)QtConcurrent::run(&preview_pool_, [this, request, id, input, output] {
        QString error;
        const QImage before = load_for_display(input, &error);
        if (request != preview_request_) return;
        QImage after;
        if (!before.isNull() && !output.isEmpty()) after = load_for_display(output, &error);
        if (request != preview_request_) return;
        emit previewLoaded(id, before, after, error);
    });
}

}  // namespace nalasr::gui
