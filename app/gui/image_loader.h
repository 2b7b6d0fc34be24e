// Decodes images off the GUI thread (with the engine's loader, so 16-bit, TIFF and WebP work): thumbnails for
// new queue items, the before/after pair for the preview, and another result to compare the output with.
#pragma once

#include <QImage>
#include <QObject>
#include <QThreadPool>
#include <atomic>

#include "image_display.h"

namespace nalasr::gui {

class ImageLoader : public QObject {
    Q_OBJECT
public:
    explicit ImageLoader(QObject* parent = nullptr);
    ~ImageLoader() override;  // drops queued work and waits for the running task

    void load_thumbnail(quint64 id, const QString& path);
    // `output` may be empty (not upscaled yet); then `scale` says how far the model enlarges. A newer
    // request makes older, unfinished ones obsolete.
    void load_preview(quint64 id, const QString& input, const QString& output, int scale);
    void load_other_result(const QString& path);

signals:
    void thumbnailLoaded(quint64 id, const QImage& thumbnail, const QString& info);
    void thumbnailFailed(quint64 id, const QString& message);
    // `images.input` is null when the input cannot be read; `images.after` when the output cannot (see `error`).
    void previewLoaded(quint64 id, const nalasr::gui::PreviewImages& images, const QString& error);
    // `image` is null when the file cannot be read (see `error`).
    void otherResultLoaded(const QString& path, const QImage& image, const QString& error);

private:
    QThreadPool thumbnail_pool_;
    QThreadPool preview_pool_;
    std::atomic<quint64> preview_request_{0};
};

}  // namespace nalasr::gui

Q_DECLARE_METATYPE(nalasr::gui::PreviewImages)
