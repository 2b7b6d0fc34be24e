#include "text_format.h"

#include <cmath>
#include <cctype>
#include <cstdio>
#include <exception>

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

bool parse_byte_size(const std::string& text, std::size_t* bytes) {
    std::size_t used = 0;
    double value = 0;
    try {
        value = std::stod(text, &used);
    } catch (const std::exception&) {
        return false;
    }
    std::string unit = text.substr(used);
    for (char& c : unit) c = char(std::tolower(static_cast<unsigned char>(c)));
    // "G", "GB" and "GiB" (any case) all mean 1024^3.
    if (unit.size() == 3 && unit.compare(1, 2, "ib") == 0) unit.resize(1);
    if (unit.size() == 2 && unit[1] == 'b') unit.resize(1);
    if (unit == "b") unit.clear();
    double factor = 1;
    if (!unit.empty()) {
        const std::size_t power = std::string("kmgt").find(unit[0]);
        if (unit.size() != 1 || power == std::string::npos) return false;
        factor = std::pow(1024.0, double(power + 1));
    }
    if (!(value > 0) || value * factor > 1e18) return false;
    *bytes = std::size_t(value * factor);
    return true;
}

}  // namespace nalasr::cli
