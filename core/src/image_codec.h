// Pixel codecs behind load_image/save_image: OpenCV imgcodecs for PNG/JPEG/WebP/BMP, libtiff for TIFF, and our
// own PNG writer (libdeflate; several times faster than OpenCV's, and it has grey + alpha, which OpenCV's lacks).
#pragma once

#include <filesystem>
#include <string>

#include "image_container.h"
#include "nalasr/image.h"
#include "nalasr/status.h"

namespace nalasr::detail {

// InvalidArgument when the header's dimensions exceed options.max_pixels (checked before decoding).
Status check_pixel_limit(std::uint64_t width, std::uint64_t height, const LoadOptions& options);

// OpenCV's depth (CV_8U, CV_16U, CV_32F) of a sample type.
int opencv_depth(SampleType type);

// Decodes PNG/JPEG/WebP/BMP bytes whose container was probed into `info` (channels and depth kept, RGB order).
Status decode_opencv(ByteView bytes, const ContainerInfo& info, Image* out);
// Encodes an image whose sample type and channels the format can hold (see save_image) into `out`.
Status encode_opencv(const Image& image, ImageFormat format, const SaveOptions& options, Bytes* out);

// Encodes a u8/u16 image of 1-4 channels as PNG (no metadata chunks); compression is SaveOptions::png_compression.
Status encode_png(const Image& image, int compression, Bytes* out);

// Reads the first page of a TIFF file; pages and warnings go to `info`.
Status load_tiff(const std::filesystem::path& path, const LoadOptions& options, Image* out, LoadInfo* info);
// Writes a TIFF (deflate-compressed, any sample type and channel count, ICC profile as TIFFTAG_ICCPROFILE). The
// EXIF block's descriptive IFD0 fields (description, make, model, software, date, artist, host, copyright) go to
// the TIFF's IFD0, its EXIF and GPS sub-IFDs to the TIFF's (TIFFTAG_EXIFIFD, TIFFTAG_GPSIFD), without the maker
// note and with PixelX/YDimension set to this image's size; the orientation is 1.
Status save_tiff(const std::filesystem::path& path, const Image& image);
// The EXIF block of a TIFF file (classic TIFF; empty for BigTIFF or when it has none): the descriptive IFD0
// fields and the EXIF and GPS sub-IFDs, with orientation 1 (load_tiff applies the TIFF's orientation).
Bytes tiff_exif_block(ByteView file);

}  // namespace nalasr::detail
