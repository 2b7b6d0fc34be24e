#include "format_text.h"

#include <QLocale>
#include <QStringList>
#include <cmath>

namespace nalasr::gui {

QString format_bytes(std::size_t bytes) {
    static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double value = double(bytes);
    int unit = 0;
    while (value >= 1024.0 && unit < 5) {
        value /= 1024.0;
        ++unit;
    }
    if (unit == 0) return QStringLiteral("%1 B").arg(bytes);
    const int decimals = value < 10 ? 2 : (value < 100 ? 1 : 0);
    return QStringLiteral("%1 %2").arg(value, 0, 'f', decimals).arg(QLatin1String(kUnits[unit]));
}

QString format_duration(double seconds) {
    if (seconds < 1.0) return QStringLiteral("%1 ms").arg(std::lround(seconds * 1000.0));
    if (seconds < 60.0) return QStringLiteral("%1 s").arg(seconds, 0, 'f', 1);
    const long total = std::lround(seconds);
    if (total < 3600) return QStringLiteral("%1 min %2 s").arg(total / 60).arg(total % 60, 2, 10, QLatin1Char('0'));
    return QStringLiteral("%1 h %2 min").arg(total / 3600).arg((total % 3600) / 60, 2, 10, QLatin1Char('0'));
}

QString format_count(std::size_t count) {
    QLocale english(QLocale::English);
    return english.toString(qulonglong(count));
}

QString join_warnings(const std::vector<std::string>& warnings) {
    QStringList parts;
    for (const std::string& warning : warnings) parts << QString::fromStdString(warning);
    return parts.join(QStringLiteral("; "));
}

}  // namespace nalasr::gui
