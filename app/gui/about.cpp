#include "about.h"

#include <QMessageBox>

#include "format_text.h"
#include "nalasr/engine.h"

namespace nalasr::gui {

QString about_text() {
    QString gpus;
    if (!cuda_compiled()) {
        gpus = QObject::tr("this build has no CUDA backend; images run on the CPU");
    } else {
        const std::vector<GpuInfo> list = list_gpus();
        if (list.empty()) gpus = QObject::tr("no NVIDIA GPU found; images run on the CPU");
        for (const GpuInfo& gpu : list) {
            gpus += QStringLiteral("<br>GPU %1: %2, %3 (compute %4.%5)")
                        .arg(gpu.index)
                        .arg(QString::fromStdString(gpu.name).toHtmlEscaped(), format_bytes(gpu.total_bytes))
                        .arg(gpu.compute_major)
                        .arg(gpu.compute_minor);
        }
    }
    return QObject::tr("<h3>NalaSR %1</h3>"
                       "<p>Super-resolution with NaLa linear attention: the whole image is one attention sequence, "
                       "with no tiles and no seams.</p>"
                       "<p>Qt %2 (built with %3)<br>Devices: %4</p>")
        .arg(QString::fromStdString(version_string()).toHtmlEscaped(), QLatin1String(qVersion()),
             QLatin1String(QT_VERSION_STR), gpus);
}

void show_about(QWidget* parent) { QMessageBox::about(parent, QObject::tr("About NalaSR"), about_text()); }

}  // namespace nalasr::gui
