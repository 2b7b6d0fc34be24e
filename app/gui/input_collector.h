// Turns what the user hands over (dialog selections, dropped files and folders, pasted data) into image files.
#pragma once

#include <QString>
#include <QStringList>

class QMimeData;

namespace nalasr::gui {

// The open dialog's name filter.
QString image_file_filter();
// Files stay as given (their format is read from the content); folders are searched, with subfolders, for
// files with an image extension, in name order.
QStringList expand_inputs(const QStringList& paths);
// Local files and folders of dropped or pasted data; a pasted bitmap is first written as a PNG into
// `paste_folder`. Empty when there is nothing usable.
QStringList inputs_from_mime(const QMimeData& mime, const QString& paste_folder);

}  // namespace nalasr::gui
