// The About box: versions, the backend this build has, and the GPUs it can use.
#pragma once

#include <QString>

class QWidget;

namespace nalasr::gui {

QString about_text();  // rich text
void show_about(QWidget* parent);

}  // namespace nalasr::gui
