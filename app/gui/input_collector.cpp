#include "input_collector.h"

#include <QDateTime>
#include <QDir>
#include <QDirIterator>
#include <QFileInfo>
#include <QImage>
#include <QMimeData>
#include <QUrl>

namespace nalasr::gui {
namespace {

const QStringList& image_patterns() {
    // QDir name filters ignore case, so "*.PNG" matches too.
    static const QStringList patterns = {"*.png", "*.jpg", "*.jpeg", "*.webp", "*.bmp", "*.tif", "*.tiff"};
    return patterns;
}

}  // namespace

QString image_file_filter() {
    return QStringLiteral("Images (*.png *.jpg *.jpeg *.webp *.bmp *.tif *.tiff);;All files (*)");
}

QStringList expand_inputs(const QStringList& paths) {
    QStringList files;
    for (const QString& path : paths) {
        const QFileInfo info(path);
        if (!info.isDir()) {
            files << info.absoluteFilePath();
            continue;
        }
        QStringList found;
        QDirIterator it(info.absoluteFilePath(), image_patterns(), QDir::Files, QDirIterator::Subdirectories);
        while (it.hasNext()) found << it.next();
        found.sort();
        files << found;
    }
    return files;
}

QStringList inputs_from_mime(const QMimeData& mime, const QString& paste_folder) {
    QStringList paths;
    for (const QUrl& url : mime.urls())
        if (url.isLocalFile()) paths << url.toLocalFile();
    if (!paths.isEmpty()) return expand_inputs(paths);
    if (!mime.hasImage()) return {};
    const QImage image = qvariant_cast<QImage>(mime.imageData());
    if (image.isNull() || !QDir().mkpath(paste_folder)) return {};
    const QString name = QStringLiteral("pasted_%1.png")
                             .arg(QDateTime::currentDateTime().toString(QStringLiteral("yyyyMMdd_HHmmss_zzz")));
    const QString path = QDir(paste_folder).filePath(name);
    if (!image.save(path, "PNG")) return {};
    return {path};
}

}  // namespace nalasr::gui
