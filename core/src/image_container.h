// Container-level parsing of image files, without decoding pixels: the format from the magic bytes, the
// dimensions from the header (so the pixel limit is checked before any decoder allocates), and the ICC profile
// and EXIF block where the container carries them. Also the reverse: inserting ICC/EXIF into encoded bytes.
#pragma once

#include "image_bytes.h"
#include "nalasr/image.h"
#include "nalasr/status.h"

namespace nalasr::detail {

struct ContainerInfo {
    ImageFormat format = ImageFormat::Unknown;
    int width = 0;
    int height = 0;
    int png_color_type = -1;  // PNG IHDR colour type (4 = grey + alpha), -1 for other formats
    Bytes icc_profile;
    Bytes exif;  // from the TIFF header onwards (any "Exif\0\0" prefix removed)
};

// The format from the first bytes of a file; Unknown when no signature matches.
ImageFormat detect_format(ByteView bytes);

// Reads dimensions and metadata of a PNG, JPEG, WebP or BMP file. CorruptData with a one-line reason when
// the header is malformed or truncated, UnsupportedFormat for valid files we do not handle (animated WebP).
Status probe_container(ByteView bytes, ContainerInfo* info);
Status probe_png(ByteView bytes, ContainerInfo* info);
Status probe_jpeg(ByteView bytes, ContainerInfo* info);
Status probe_webp(ByteView bytes, ContainerInfo* info);
Status probe_bmp(ByteView bytes, ContainerInfo* info);

// Insert metadata into freshly encoded files (which carry none). Empty blocks are skipped. Blocks a container
// cannot hold (JPEG: EXIF over 64 KiB, an ICC profile over 255 segments) are left out.
Status png_insert_metadata(Bytes* png, const Bytes& icc_profile, const Bytes& exif);
void jpeg_insert_metadata(Bytes* jpeg, const Bytes& icc_profile, const Bytes& exif);
Status webp_insert_metadata(Bytes* webp, const Bytes& icc_profile, const Bytes& exif);

// A PNG chunk (length, type, data, CRC) appended to `out`.
void append_png_chunk(Bytes* out, const char type[4], ByteView data);

// zlib helpers (PNG iCCP; tests build PNG fixtures with zlib_deflate).
Status zlib_inflate(ByteView compressed, std::size_t max_size, Bytes* out);
Bytes zlib_deflate(ByteView data, int level);

}  // namespace nalasr::detail
