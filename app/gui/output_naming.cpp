#include "output_naming.h"

#include <system_error>

#include "path_util.h"

namespace nalasr::gui {
namespace {

ImageFormat image_format_of(OutputFormat format, ImageFormat input_format) {
    switch (format) {
        case OutputFormat::Png: return ImageFormat::Png;
        case OutputFormat::Jpeg: return ImageFormat::Jpeg;
        case OutputFormat::Webp: return ImageFormat::Webp;
        case OutputFormat::Tiff: return ImageFormat::Tiff;
        case OutputFormat::KeepInput: break;
    }
    return input_format == ImageFormat::Unknown ? ImageFormat::Png : input_format;
}

// The input's own extension when it names the chosen format (keeps ".jpeg" and ".tif"), else the canonical one.
std::string extension_for(ImageFormat format, const std::filesystem::path& input) {
    const std::string own = input.extension().string();
    if (!own.empty() && image_format_from_extension(own) == format) return own;
    return std::string(".") + image_format_name(format);
}

bool file_exists(const std::filesystem::path& path) {
    std::error_code ec;
    return std::filesystem::exists(path, ec);
}

}  // namespace

const char* output_format_id(OutputFormat format) {
    switch (format) {
        case OutputFormat::KeepInput: return "keep";
        case OutputFormat::Png: return "png";
        case OutputFormat::Jpeg: return "jpg";
        case OutputFormat::Webp: return "webp";
        case OutputFormat::Tiff: return "tiff";
    }
    return "keep";
}

OutputFormat output_format_from_id(const QString& id) {
    for (OutputFormat f : {OutputFormat::Png, OutputFormat::Jpeg, OutputFormat::Webp, OutputFormat::Tiff})
        if (id == QLatin1String(output_format_id(f))) return f;
    return OutputFormat::KeepInput;
}

const char* overwrite_policy_id(OverwritePolicy policy) {
    switch (policy) {
        case OverwritePolicy::Rename: return "rename";
        case OverwritePolicy::Overwrite: return "overwrite";
        case OverwritePolicy::Skip: return "skip";
    }
    return "rename";
}

OverwritePolicy overwrite_policy_from_id(const QString& id) {
    if (id == QLatin1String("overwrite")) return OverwritePolicy::Overwrite;
    if (id == QLatin1String("skip")) return OverwritePolicy::Skip;
    return OverwritePolicy::Rename;
}

OutputTarget output_target(const std::filesystem::path& input, ImageFormat input_format, int scale,
                           bool has_alpha, const OutputOptions& options) {
    if (input_format == ImageFormat::Unknown) input_format = image_format_from_extension(input.extension().string());
    OutputTarget target;
    target.format = image_format_of(options.format, input_format);
    if (target.format == ImageFormat::Jpeg && has_alpha) {
        target.format = ImageFormat::Png;
        target.note = QStringLiteral("JPEG has no alpha channel: saved as PNG");
    }
    const std::filesystem::path folder = options.folder.isEmpty() ? input.parent_path() : to_fs_path(options.folder);
    const std::string stem = input.stem().string() + "_x" + std::to_string(scale);
    const std::string extension = extension_for(target.format, input);

    target.path = folder / (stem + extension);
    if (!file_exists(target.path)) return target;
    switch (options.overwrite) {
        case OverwritePolicy::Overwrite: return target;
        case OverwritePolicy::Skip: target.skip = true; return target;
        case OverwritePolicy::Rename:
            for (int n = 1;; ++n) {
                target.path = folder / (stem + "_" + std::to_string(n) + extension);
                if (!file_exists(target.path)) return target;
            }
    }
    return target;
}

}  // namespace nalasr::gui
