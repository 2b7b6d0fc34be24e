#include "text_format.h"

#include <cmath>
#include <cstdio>

namespace nalasr::cli {

std::string format_bytes(std::size_t bytes) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double value = double(bytes);
    int unit = 0;
    while (value >= 1024 && unit < 4) value /= 1024, ++unit;
    char text[32];
    std::snprintf(text, sizeof(text), unit == 0 || value >= 100 ? "%.0f %s" : "%.2f %s", value, units[unit]);
    return text;
}

std::string format_duration(double seconds) {
    char text[32];
    if (seconds < 60) {
        std::snprintf(text, sizeof(text), "%.2f s", seconds);
        return text;
    }
    const long total = std::lround(seconds);
    if (total < 3600) std::snprintf(text, sizeof(text), "%ld:%02ld", total / 60, total % 60);
    else std::snprintf(text, sizeof(text), "%ld:%02ld:%02ld", total / 3600, total / 60 % 60, total % 60);
    return text;
}

}  // namespace nalasr::cli
