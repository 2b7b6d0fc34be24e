// Conversions between Qt strings and std::filesystem paths that keep non-ASCII names intact (UTF-8).
#pragma once

#include <QString>
#include <filesystem>

namespace nalasr::gui {

inline std::filesystem::path to_fs_path(const QString& path) {
    const QByteArray utf8 = path.toUtf8();
    return std::filesystem::path(std::u8string(reinterpret_cast<const char8_t*>(utf8.constData()),
                                               std::size_t(utf8.size())));
}

inline QString from_fs_path(const std::filesystem::path& path) {
    const std::u8string utf8 = path.u8string();
    return QString::fromUtf8(reinterpret_cast<const char*>(utf8.data()), qsizetype(utf8.size()));
}

}  // namespace nalasr::gui
