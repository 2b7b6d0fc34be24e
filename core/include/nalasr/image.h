// NalaSR public API: images in memory and on disk.
//
// An Image is interleaved, row-major pixels with 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA) channels of
// 8-bit, 16-bit or float32 samples. Channel order is always R, G, B(, A) — never OpenCV's BGR.
// Loading keeps what the file has (bit depth, channels, ICC profile, EXIF); the engine converts to float
// internally and back to the input's sample type, so 16-bit stays 16-bit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "nalasr/status.h"

namespace nalasr {

enum class SampleType { U8, U16, F32 };

// Bytes per sample of a type (1, 2, 4).
std::size_t sample_size(SampleType type);
const char* sample_type_name(SampleType type);  // "u8", "u16", "f32"

struct Image {
    int width = 0;
    int height = 0;
    int channels = 0;  // 1, 2, 3 or 4
    SampleType type = SampleType::U8;
    std::vector<std::uint8_t> pixels;  // width * height * channels samples, tightly packed

    std::vector<std::uint8_t> icc_profile;  // empty when the file had none
    std::vector<std::uint8_t> exif;         // raw EXIF block (TIFF header onwards); empty when none

    bool empty() const { return pixels.empty(); }
    bool has_alpha() const { return channels == 2 || channels == 4; }
    std::size_t row_bytes() const { return std::size_t(width) * channels * sample_size(type); }
    // Allocates pixels for the given geometry (contents zero).
    void allocate(int w, int h, int c, SampleType t);
};

enum class ImageFormat { Unknown, Png, Jpeg, Webp, Bmp, Tiff };
const char* image_format_name(ImageFormat format);  // "png", "jpg", "webp", "bmp", "tiff"
// From a file extension (".png", "JPEG", "tif" ...); Unknown when not recognised.
ImageFormat image_format_from_extension(const std::string& extension);

// Resamples `in` to width × height: area averaging when shrinking, bicubic when enlarging (8/16-bit samples
// saturate; float samples are not clamped). Channels, sample type, ICC profile and EXIF are kept. Used for output
// sizes other than the model's scale (`nalasr upscale --outscale 1.5`, `--width 1920`): the network runs at its
// own scale, then the result is resampled.
Status resize_image(const Image& in, int width, int height, Image* out);

// The largest width or height a format can store (WebP 16383, JPEG 65535; others effectively unlimited), so
// callers can refuse an output size before computing it. 0 for Unknown.
int max_image_side(ImageFormat format);

struct LoadOptions {
    // Refuse, before decoding, images whose header claims more pixels than this (decompression bombs).
    std::uint64_t max_pixels = 1ull << 30;
};

struct LoadInfo {
    ImageFormat format = ImageFormat::Unknown;
    int pages = 1;                  // multi-page TIFF: pages in the file (only the first is loaded)
    std::vector<std::string> warnings;
};

// Reads an image file. The format is taken from the file's content, not its extension.
// JPEG EXIF orientation is applied to the pixels (and the EXIF orientation reset to 1).
Status load_image(const std::filesystem::path& path, Image* out, const LoadOptions& options = {},
                  LoadInfo* info = nullptr);

struct SaveOptions {
    ImageFormat format = ImageFormat::Unknown;  // Unknown: from the output path's extension
    int jpeg_quality = 95;                      // 1..100
    int webp_quality = 101;                     // 1..100 lossy, 101 lossless
    int png_compression = 3;                    // 0..9
};

// Writes an image atomically: to a temporary file in the destination folder, then renamed over `path`.
// On any failure nothing is left behind. Samples are converted when the format cannot hold the image's type
// (float → 16-bit for PNG; 16-bit → 8-bit for JPEG/WebP/BMP). An image the format cannot hold at all (wider
// than WebP's 16383 px, say) is refused before anything is written.
Status save_image(const std::filesystem::path& path, const Image& image, const SaveOptions& options = {});

// save_image's temporary file (".NAME.tmp-PID-N" next to the target) is removed on any failure, but a process
// killed outright (SIGKILL, power loss) leaves it behind. For a file name seen in a folder: true, with the name
// it was going to become, when it is such a leftover of a process that no longer runs on this machine.
bool is_stale_temp_file(const std::string& file_name, std::string* target_name);

}  // namespace nalasr
