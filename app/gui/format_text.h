// Human-readable numbers for labels and the status bar.
#pragma once

#include <QString>
#include <cstddef>
#include <string>
#include <vector>

namespace nalasr::gui {

QString format_bytes(std::size_t bytes);     // "512 B", "3.4 MiB", "1.25 GiB"
QString format_duration(double seconds);     // "850 ms", "12.3 s", "2 min 05 s"
QString format_count(std::size_t count);     // "65,536"
QString join_warnings(const std::vector<std::string>& warnings);  // the engine's warnings, "first; second"

}  // namespace nalasr::gui
