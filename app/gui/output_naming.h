// Where an upscaled image goes: folder, file name ({name}_x{scale}.{ext}), format and what to do when the
// file exists. Pure logic (no widgets), so the QtTests drive it directly.
#pragma once

#include <QString>
#include <filesystem>

#include "nalasr/image.h"
#include "sample_conversion.h"

namespace nalasr::gui {

enum class OutputFormat { KeepInput, Png, Jpeg, Webp, Tiff };
enum class OverwritePolicy { Rename, Overwrite, Skip };

const char* output_format_id(OutputFormat format);  // "keep", "png", "jpg", "webp", "tiff"
OutputFormat output_format_from_id(const QString& id);
const char* overwrite_policy_id(OverwritePolicy policy);  // "rename", "overwrite", "skip"
OverwritePolicy overwrite_policy_from_id(const QString& id);

struct OutputOptions {
    QString folder;  // empty: next to the input
    OutputFormat format = OutputFormat::KeepInput;
    OverwritePolicy overwrite = OverwritePolicy::Rename;
    OutputBitDepth bit_depth = OutputBitDepth::KeepInput;
    bool keep_colours = false;  // the input's colours, the network's luminance (UpscaleParams::keep_input_colours)
    bool tta = false;           // the mean over the 8 flips/rotations, 8x slower (UpscaleParams::tta)
};

struct OutputTarget {
    std::filesystem::path path;
    ImageFormat format = ImageFormat::Png;
    bool skip = false;  // the file exists and the policy is Skip
    QString note;       // a change the user should hear about (alpha forced PNG), else empty
};

// Decides the output of one input. `input_format` is the format the input's content was decoded as
// (Unknown: use its extension). JPEG cannot hold alpha, so an image with alpha goes to PNG instead.
// Rename picks the first free "{name}_x{scale}_{n}.{ext}".
OutputTarget output_target(const std::filesystem::path& input, ImageFormat input_format, int scale,
                           bool has_alpha, const OutputOptions& options);

}  // namespace nalasr::gui
