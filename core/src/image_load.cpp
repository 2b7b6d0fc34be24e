// load_image: read the file, detect the format from its bytes, check the pixel limit from the header, decode,
// then apply JPEG EXIF orientation (TIFF: its orientation tag, and its EXIF fields become an EXIF block).
// Every failure is a Status whose message starts with the path.
#include <cstdio>

#include "image_codec.h"
#include "image_exif.h"
#include "image_file.h"
#include "image_transform.h"

namespace nalasr {
namespace {

Status prefixed(const std::filesystem::path& path, const Status& st) {
    return {st.code(), path.string() + ": " + st.message()};
}

std::string megapixels(std::uint64_t pixels) {
    char text[32];
    std::snprintf(text, sizeof(text), "%.1f MP", double(pixels) / 1e6);
    return text;
}

}  // namespace

namespace detail {

Status check_pixel_limit(std::uint64_t width, std::uint64_t height, const LoadOptions& options) {
    if (width * height <= options.max_pixels) return Status::ok();
    return {StatusCode::InvalidArgument, "image is " + std::to_string(width) + "x" + std::to_string(height) + " (" +
                                             megapixels(width * height) + "), more than the limit of " +
                                             megapixels(options.max_pixels)};
}

}  // namespace detail

Status load_image(const std::filesystem::path& path, Image* out, const LoadOptions& options, LoadInfo* info) {
    using namespace detail;
    *out = Image();
    LoadInfo local_info;
    LoadInfo& li = info ? *info : local_info;
    li = LoadInfo();

    Bytes bytes;
    if (auto st = read_file(path, &bytes); !st) return st;
    if (bytes.empty()) return prefixed(path, {StatusCode::CorruptData, "empty file (0 bytes)"});

    li.format = detect_format(bytes);
    if (li.format == ImageFormat::Tiff) {
        Bytes exif = tiff_exif_block(bytes);
        bytes = Bytes();  // libtiff reads the file itself
        if (auto st = load_tiff(path, options, out, &li); !st) return prefixed(path, st);
        out->exif = std::move(exif);
        return Status::ok();
    }

    ContainerInfo container;
    if (auto st = probe_container(bytes, &container); !st) return prefixed(path, st);
    if (auto st = check_pixel_limit(container.width, container.height, options); !st) return prefixed(path, st);
    if (auto st = decode_opencv(bytes, container, out); !st) return prefixed(path, st);

    out->icc_profile = std::move(container.icc_profile);
    out->exif = std::move(container.exif);
    if (li.format == ImageFormat::Jpeg) {
        if (int orientation = exif_orientation(out->exif); orientation != 1) {
            *out = apply_orientation(*out, orientation);
            exif_reset_orientation(&out->exif);
        }
    }
    return Status::ok();
}

}  // namespace nalasr
