// save_image: validate, pick the format, refuse sizes the format cannot hold, convert samples/channels the
// format cannot hold, encode, add metadata, and write atomically (temporary file + rename).
#include <string>

#include "image_codec.h"
#include "image_file.h"
#include "image_transform.h"

namespace nalasr {
namespace {

// The deepest sample type a format stores; deeper samples are narrowed to it (u8 ⊂ u16 ⊂ f32).
SampleType widest_type(ImageFormat format) {
    switch (format) {
    case ImageFormat::Png: return SampleType::U16;
    case ImageFormat::Tiff: return SampleType::F32;
    default: return SampleType::U8;
    }
}

// The channel count a format stores for an image of `channels` channels.
int stored_channels(ImageFormat format, int channels) {
    switch (format) {
    case ImageFormat::Jpeg:
    case ImageFormat::Bmp: return channels == 2 ? 1 : channels == 4 ? 3 : channels;  // no alpha (OpenCV's BMP)
    case ImageFormat::Webp: return channels == 2 ? 4 : channels;                     // no grey + alpha layout
    default: return channels;
    }
}

Status validate(const Image& image) {
    if (image.width <= 0 || image.height <= 0) return {StatusCode::InvalidArgument, "image is empty"};
    if (image.channels < 1 || image.channels > 4)
        return {StatusCode::InvalidArgument, "image has " + std::to_string(image.channels) + " channels (1-4 allowed)"};
    if (image.pixels.size() != image.row_bytes() * std::size_t(image.height))
        return {StatusCode::InvalidArgument, "image pixel buffer does not match its size"};
    return Status::ok();
}

Status save_converted(const std::filesystem::path& path, const Image& image, ImageFormat format,
                      const SaveOptions& options) {
    using namespace detail;
    if (format == ImageFormat::Tiff) {
        TempFile temp;
        if (auto st = temp.create(path); !st) return st;
        if (auto st = save_tiff(temp.path(), image); !st) return st;
        return temp.commit();
    }
    Bytes encoded;
    if (format == ImageFormat::Png) {
        if (auto st = encode_png(image, options.png_compression, &encoded); !st) return st;
    } else if (auto st = encode_opencv(image, format, options, &encoded); !st) {
        return st;
    }
    switch (format) {
    case ImageFormat::Png:
        if (auto st = png_insert_metadata(&encoded, image.icc_profile, image.exif); !st) return st;
        break;
    case ImageFormat::Jpeg: jpeg_insert_metadata(&encoded, image.icc_profile, image.exif); break;
    case ImageFormat::Webp:
        if (auto st = webp_insert_metadata(&encoded, image.icc_profile, image.exif); !st) return st;
        break;
    default: break;  // BMP carries no metadata
    }
    return write_file_atomic(path, encoded);
}

}  // namespace

int max_image_side(ImageFormat format) {
    switch (format) {
    case ImageFormat::Jpeg: return 65535;
    case ImageFormat::Webp: return 16383;
    case ImageFormat::Png:
    case ImageFormat::Bmp:
    case ImageFormat::Tiff: return 0x7fffffff;
    case ImageFormat::Unknown: break;
    }
    return 0;
}

Status save_image(const std::filesystem::path& path, const Image& image, const SaveOptions& options) {
    using namespace detail;
    auto fail = [&](const Status& st) { return Status(st.code(), path.string() + ": " + st.message()); };
    if (auto st = validate(image); !st) return fail(st);

    const ImageFormat format =
        options.format != ImageFormat::Unknown ? options.format : image_format_from_extension(path.extension().string());
    if (format == ImageFormat::Unknown)
        return fail({StatusCode::InvalidArgument, "cannot tell the format from the extension '" +
                                                      path.extension().string() + "' (use png, jpg, webp, tiff or bmp)"});

    const int max_side = max_image_side(format);
    if (image.width > max_side || image.height > max_side)
        return fail({StatusCode::InvalidArgument,
                     std::to_string(image.width) + "x" + std::to_string(image.height) + " is too large for " +
                         image_format_name(format) + " (at most " + std::to_string(max_side) +
                         " px a side); choose png or tiff"});

    const SampleType stored_type = widest_type(format);
    const bool narrow = sample_size(image.type) > sample_size(stored_type);
    const int channels = stored_channels(format, image.channels);
    Image converted;  // only when the format cannot hold the image as it is
    if (narrow) converted = convert_sample_type(image, stored_type);
    if (channels != image.channels) converted = convert_channels(narrow ? converted : image, channels);
    const bool is_converted = narrow || channels != image.channels;
    if (auto st = save_converted(path, is_converted ? converted : image, format, options); !st) return fail(st);
    return Status::ok();
}

}  // namespace nalasr
