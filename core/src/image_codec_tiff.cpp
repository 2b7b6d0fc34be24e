// TIFF through libtiff: 8/16-bit integer and float32 samples, 1-4 channels, strips or tiles, contiguous or
// planar; other layouts (palette, YCbCr, 1-bit, CMYK ...) go through libtiff's RGBA reader as 8-bit.
#include <tiffio.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <memory>
#include <type_traits>

#include "image_codec.h"
#include "image_exif.h"
#include "image_transform.h"

namespace nalasr::detail {
namespace {

// Collects libtiff's first error message for this file instead of letting libtiff print to stderr.
struct TiffMessages {
    std::string first_error;
};

int on_tiff_error(TIFF*, void* user_data, const char* module, const char* fmt, va_list ap) {
    auto* messages = static_cast<TiffMessages*>(user_data);
    if (messages->first_error.empty()) {
        char text[512];
        std::vsnprintf(text, sizeof(text), fmt, ap);
        messages->first_error = module ? std::string(module) + ": " + text : text;
    }
    return 1;  // handled: do not call the global handler
}

int on_tiff_warning(TIFF*, void*, const char*, const char*, va_list) { return 1; }

struct TiffCloser {
    void operator()(TIFF* tif) const { TIFFClose(tif); }
};
using TiffPtr = std::unique_ptr<TIFF, TiffCloser>;

TiffPtr open_tiff(const std::filesystem::path& path, const char* mode, TiffMessages* messages) {
    TIFFOpenOptions* opts = TIFFOpenOptionsAlloc();
    TIFFOpenOptionsSetErrorHandlerExtR(opts, on_tiff_error, messages);
    TIFFOpenOptionsSetWarningHandlerExtR(opts, on_tiff_warning, messages);
    TIFF* tif = TIFFOpenExt(path.c_str(), mode, opts);
    TIFFOpenOptionsFree(opts);
    return TiffPtr(tif);
}

// More samples per pixel than this (multispectral stacks, corrupt headers) are refused before reading:
// we use at most 4, and RGBA or CMYK plus a few extra channels fit.
constexpr std::uint16_t kMaxSamples = 8;

struct TiffLayout {
    std::uint32_t width = 0, height = 0;
    std::uint16_t samples = 1, bits = 1, format = SAMPLEFORMAT_UINT, photometric = PHOTOMETRIC_MINISBLACK;
    std::uint16_t planar = PLANARCONFIG_CONTIG;
    bool tiled = false;
};

// Whether the samples can be read as they are (instead of through the 8-bit RGBA reader).
bool direct_readable(const TiffLayout& t, SampleType* type) {
    const bool grey = t.photometric == PHOTOMETRIC_MINISBLACK || t.photometric == PHOTOMETRIC_MINISWHITE;
    const bool rgb = t.photometric == PHOTOMETRIC_RGB;
    if (!(grey && t.samples >= 1 && t.samples <= 2) && !(rgb && t.samples >= 3 && t.samples <= 4)) return false;
    if (t.tiled && t.planar != PLANARCONFIG_CONTIG) return false;
    if (t.bits == 8 && t.format == SAMPLEFORMAT_UINT) *type = SampleType::U8;
    else if (t.bits == 16 && t.format == SAMPLEFORMAT_UINT) *type = SampleType::U16;
    else if (t.bits == 32 && t.format == SAMPLEFORMAT_IEEEFP) *type = SampleType::F32;
    else return false;
    return true;
}

Status read_tiles(TIFF* tif, const TiffLayout& t, Image* out) {
    std::uint32_t tw = 0, th = 0;
    TIFFGetField(tif, TIFFTAG_TILEWIDTH, &tw);
    TIFFGetField(tif, TIFFTAG_TILELENGTH, &th);
    if (tw == 0 || th == 0) return {StatusCode::CorruptData, "TIFF tile size is zero"};
    std::vector<std::uint8_t> tile(TIFFTileSize(tif));
    const std::size_t px = std::size_t(out->channels) * sample_size(out->type);
    for (std::uint32_t y0 = 0; y0 < t.height; y0 += th) {
        for (std::uint32_t x0 = 0; x0 < t.width; x0 += tw) {
            if (TIFFReadTile(tif, tile.data(), x0, y0, 0, 0) < 0) return {StatusCode::CorruptData, "TIFF tile unreadable"};
            const std::uint32_t rows = std::min(th, t.height - y0), cols = std::min(tw, t.width - x0);
            for (std::uint32_t r = 0; r < rows; ++r)
                std::memcpy(&out->pixels[(std::size_t(y0 + r) * t.width + x0) * px], &tile[std::size_t(r) * tw * px],
                            cols * px);
        }
    }
    return Status::ok();
}

Status read_strips(TIFF* tif, const TiffLayout& t, Image* out) {
    std::vector<std::uint8_t> line(TIFFScanlineSize(tif));
    const std::size_t sample = sample_size(out->type), row_bytes = out->row_bytes();
    const int planes = t.planar == PLANARCONFIG_SEPARATE ? t.samples : 1;
    for (int plane = 0; plane < planes; ++plane) {
        for (std::uint32_t y = 0; y < t.height; ++y) {
            if (TIFFReadScanline(tif, line.data(), y, std::uint16_t(plane)) < 0)
                return {StatusCode::CorruptData, "TIFF row " + std::to_string(y) + " unreadable (truncated?)"};
            std::uint8_t* row = out->pixels.data() + row_bytes * y;
            if (planes == 1) {
                std::memcpy(row, line.data(), row_bytes);
            } else {  // one channel per plane: interleave
                for (std::uint32_t x = 0; x < t.width; ++x)
                    std::memcpy(row + (std::size_t(x) * t.samples + plane) * sample, &line[std::size_t(x) * sample], sample);
            }
        }
    }
    return Status::ok();
}

// MINISWHITE: 0 is white. Flip the grey channel so that 0 is black like everywhere else.
void invert_grey(Image* im) {
    const std::size_t n = std::size_t(im->width) * im->height;
    for (std::size_t p = 0; p < n; ++p) {
        const std::size_t i = p * im->channels;
        switch (im->type) {
        case SampleType::U8: im->pixels[i] = 255 - im->pixels[i]; break;
        case SampleType::U16: reinterpret_cast<std::uint16_t*>(im->pixels.data())[i] ^= 0xffff; break;
        case SampleType::F32: reinterpret_cast<float*>(im->pixels.data())[i] = 1.0f - reinterpret_cast<float*>(im->pixels.data())[i]; break;
        }
    }
}

// Associated (premultiplied) alpha → straight alpha, the layout Image uses: colour /= alpha.
template <typename T>
void unpremultiply(Image* im, double max_value) {
    T* px = reinterpret_cast<T*>(im->pixels.data());
    const int c = im->channels;
    const std::size_t n = std::size_t(im->width) * im->height;
    for (std::size_t p = 0; p < n; ++p, px += c) {
        const double alpha = double(px[c - 1]) / max_value;
        if (alpha <= 0) continue;
        for (int k = 0; k < c - 1; ++k) {
            const double v = double(px[k]) / alpha;
            px[k] = std::is_floating_point_v<T> ? T(v) : T(std::min(v, max_value) + 0.5);
        }
    }
}

bool has_associated_alpha(TIFF* tif) {
    std::uint16_t extra = 0, *types = nullptr;
    return TIFFGetField(tif, TIFFTAG_EXTRASAMPLES, &extra, &types) && extra == 1 && types &&
           types[0] == EXTRASAMPLE_ASSOCALPHA;
}

Status read_rgba(TIFF* tif, const TiffLayout& t, Image* out) {
    char reason[1024] = "";
    if (!TIFFRGBAImageOK(tif, reason)) return {StatusCode::UnsupportedFormat, std::string("TIFF layout not supported: ") + reason};
    std::vector<std::uint32_t> raster(std::size_t(t.width) * t.height);
    if (!TIFFReadRGBAImageOriented(tif, t.width, t.height, raster.data(), ORIENTATION_TOPLEFT, 0))
        return {StatusCode::CorruptData, "TIFF image data unreadable"};
    std::uint16_t extra = 0, *extra_types = nullptr;
    TIFFGetField(tif, TIFFTAG_EXTRASAMPLES, &extra, &extra_types);
    const int channels = extra > 0 ? 4 : 3;
    out->allocate(int(t.width), int(t.height), channels, SampleType::U8);
    for (std::size_t p = 0; p < raster.size(); ++p) {
        std::uint8_t* d = &out->pixels[p * channels];
        d[0] = TIFFGetR(raster[p]);
        d[1] = TIFFGetG(raster[p]);
        d[2] = TIFFGetB(raster[p]);
        if (channels == 4) d[3] = TIFFGetA(raster[p]);
    }
    return Status::ok();
}

// The status with libtiff's own message appended, if it gave one.
Status with_reason(const Status& st, const TiffMessages& messages) {
    std::string text = st.message();
    if (!messages.first_error.empty()) text += " (" + messages.first_error + ")";
    return {st.code(), text};
}

// EXIF in TIFF: the EXIF block's IFD0 fields that describe the picture are fields of the TIFF's own IFD0 (the
// rest of its IFD0 describes the pixel layout, which is the writer's); its EXIF and GPS sub-IFDs are sub-IFDs
// of the TIFF, pointed to by TIFFTAG_EXIFIFD and TIFFTAG_GPSIFD.
constexpr std::uint16_t kDescriptiveTags[] = {
    TIFFTAG_IMAGEDESCRIPTION, TIFFTAG_MAKE, TIFFTAG_MODEL,        TIFFTAG_SOFTWARE,
    TIFFTAG_DATETIME,         TIFFTAG_ARTIST, TIFFTAG_HOSTCOMPUTER, TIFFTAG_COPYRIGHT,
};
constexpr std::uint16_t kMakerNoteTag = 0x927C;  // vendor data with offsets into the file it came from
constexpr std::uint16_t kPixelXDimensionTag = 0xA002, kPixelYDimensionTag = 0xA003;

bool is_descriptive(std::uint16_t tag) {
    return std::find(std::begin(kDescriptiveTags), std::end(kDescriptiveTags), tag) != std::end(kDescriptiveTags);
}

// An ASCII entry's text up to its first NUL.
std::string entry_text(const ExifEntry& e) {
    const auto end = std::find(e.value.begin(), e.value.end(), std::uint8_t(0));
    return std::string(e.value.begin(), end);
}

// Value k of an entry as an integer: integer types as they are, the bytes of ASCII/UNDEFINED as bytes.
bool entry_integer(const ExifEntry& e, std::uint32_t k, std::int64_t* v) {
    if ((e.type == kExifAscii || e.type == kExifUndefined) && k < e.value.size()) {
        *v = e.value[k];
        return true;
    }
    return exif_integer(e, k, v);
}

// Sets an entry of the EXIF or GPS sub-IFD in the current custom directory, in the form libtiff's definition of
// its tag wants (TIFFSetField's arguments depend on it); tags libtiff does not know are defined first with the
// entry's own type. False (nothing set) when the entry does not fit the definition.
bool set_exif_field(TIFF* t, const ExifEntry& e) {
    const TIFFField* field = TIFFFindField(t, e.tag, TIFF_ANY);
    if (!field) {
        static char name[] = "NalasrExifField";  // libtiff keeps the pointer
        TIFFFieldInfo info{e.tag, TIFF_VARIABLE2, TIFF_VARIABLE2, TIFFDataType(e.type), FIELD_CUSTOM, 1, 1, name};
        if (TIFFMergeFieldInfo(t, &info, 1) != 0 || !(field = TIFFFindField(t, e.tag, TIFF_ANY))) return false;
    }
    const TIFFDataType type = TIFFFieldDataType(field);
    const bool passcount = TIFFFieldPassCount(field);
    const int writecount = TIFFFieldWriteCount(field);
    if (type == TIFF_ASCII) {
        if (e.type != kExifAscii) return false;
        std::string text = entry_text(e);
        if (passcount) return TIFFSetField(t, e.tag, std::uint32_t(text.size() + 1), text.c_str());
        return TIFFSetField(t, e.tag, text.c_str());
    }
    if (e.type == kExifAscii) return false;
    const int size = TIFFFieldSetGetSize(field);
    const bool real = type == TIFF_RATIONAL || type == TIFF_SRATIONAL || type == TIFF_FLOAT || type == TIFF_DOUBLE;
    const bool signed_int = type == TIFF_SBYTE || type == TIFF_SSHORT || type == TIFF_SLONG;
    if (size != 1 && size != 2 && size != 4 && size != 8) return false;
    if (real && size != 4 && size != 8) return false;
    // The values as libtiff stores them: integers of `size` bytes, or float/double.
    std::vector<std::uint8_t> values(std::size_t(e.count) * std::size_t(size));
    for (std::uint32_t k = 0; k < e.count; ++k) {
        std::uint8_t* at = values.data() + std::size_t(k) * std::size_t(size);
        if (real) {
            double d = 0;
            if (!exif_number(e, k, &d)) return false;
            const float f = float(d);
            size == 4 ? std::memcpy(at, &f, 4) : std::memcpy(at, &d, 8);
        } else {
            std::int64_t v = 0;
            if (!entry_integer(e, k, &v)) return false;
            std::memcpy(at, &v, std::size_t(size));  // the low bytes (little-endian)
        }
    }
    if (passcount) return TIFFSetField(t, e.tag, e.count, values.data());
    if (writecount > 1) return e.count == std::uint32_t(writecount) && TIFFSetField(t, e.tag, values.data());
    if (e.count != 1) return false;
    if (writecount != 1) return TIFFSetField(t, e.tag, values.data());  // variable count without one: an array of 1
    std::int64_t v = 0;
    if (real) {
        double d = 0;
        exif_number(e, 0, &d);
        return TIFFSetField(t, e.tag, d);
    }
    entry_integer(e, 0, &v);
    if (type == TIFF_LONG || type == TIFF_IFD) return TIFFSetField(t, e.tag, std::uint32_t(v));
    if (type == TIFF_SLONG) return TIFFSetField(t, e.tag, std::int32_t(v));
    if (size <= 2) return TIFFSetField(t, e.tag, signed_int ? int(v) : int(std::uint32_t(v) & (size == 1 ? 0xff : 0xffff)));
    return false;
}

// Writes one sub-IFD (created by `create`) after the image; its offset goes to *offset. Entries libtiff refuses
// are left out.
bool write_sub_ifd(TIFF* t, int (*create)(TIFF*), const std::vector<ExifEntry>& entries, std::uint64_t* offset) {
    if (create(t) != 0) return false;
    for (const ExifEntry& e : entries) set_exif_field(t, e);
    const bool written = TIFFWriteCustomDirectory(t, offset);
    // libtiff 4.5 keeps the custom directory's values until a directory is freed; switching back to IFD0 does not
    // free them (LeakSanitizer), so free them here.
    TIFFFreeDirectory(t);
    return written;
}

}  // namespace

Status load_tiff(const std::filesystem::path& path, const LoadOptions& options, Image* out, LoadInfo* info) {
    TiffMessages messages;
    TiffPtr tif = open_tiff(path, "r", &messages);
    if (!tif) return with_reason({StatusCode::CorruptData, "not a readable TIFF file"}, messages);

    TiffLayout t;
    TIFFGetField(tif.get(), TIFFTAG_IMAGEWIDTH, &t.width);
    TIFFGetField(tif.get(), TIFFTAG_IMAGELENGTH, &t.height);
    TIFFGetFieldDefaulted(tif.get(), TIFFTAG_SAMPLESPERPIXEL, &t.samples);
    TIFFGetFieldDefaulted(tif.get(), TIFFTAG_BITSPERSAMPLE, &t.bits);
    TIFFGetFieldDefaulted(tif.get(), TIFFTAG_SAMPLEFORMAT, &t.format);
    TIFFGetFieldDefaulted(tif.get(), TIFFTAG_PLANARCONFIG, &t.planar);
    TIFFGetField(tif.get(), TIFFTAG_PHOTOMETRIC, &t.photometric);
    t.tiled = TIFFIsTiled(tif.get());
    if (t.width == 0 || t.height == 0 || t.width > 0x7fffffff || t.height > 0x7fffffff)
        return with_reason({StatusCode::CorruptData, "TIFF header has invalid dimensions"}, messages);
    if (auto st = check_pixel_limit(t.width, t.height, options); !st) return st;
    // The pixel limit bounds our buffers, but libtiff's grow with the samples and bits per pixel too: found by
    // fuzzing, a 178-byte file claiming 65535 samples per pixel made the RGBA reader ask for 2 GiB.
    if (t.samples < 1 || t.samples > kMaxSamples)
        return {StatusCode::UnsupportedFormat, "TIFF has " + std::to_string(t.samples) + " samples per pixel (1 to " +
                                                   std::to_string(kMaxSamples) + " supported)"};
    if (t.bits < 1 || t.bits > 64)
        return {StatusCode::CorruptData, "TIFF header claims " + std::to_string(t.bits) + " bits per sample"};

    if (info) {
        info->pages = TIFFNumberOfDirectories(tif.get());
        if (info->pages > 1)
            info->warnings.push_back("TIFF has " + std::to_string(info->pages) + " pages; only the first is used");
    }

    SampleType type = SampleType::U8;
    Status st;
    if (direct_readable(t, &type)) {
        out->allocate(int(t.width), int(t.height), t.samples, type);
        st = t.tiled ? read_tiles(tif.get(), t, out) : read_strips(tif.get(), t, out);
        if (st && t.photometric == PHOTOMETRIC_MINISWHITE) invert_grey(out);
        if (st && out->has_alpha() && has_associated_alpha(tif.get())) {
            switch (out->type) {
            case SampleType::U8: unpremultiply<std::uint8_t>(out, 255.0); break;
            case SampleType::U16: unpremultiply<std::uint16_t>(out, 65535.0); break;
            case SampleType::F32: unpremultiply<float>(out, 1.0); break;
            }
        }
        // TIFF orientation values mean the same as EXIF's (the RGBA reader below applies them itself).
        std::uint16_t orientation = ORIENTATION_TOPLEFT;
        TIFFGetFieldDefaulted(tif.get(), TIFFTAG_ORIENTATION, &orientation);
        if (st && orientation != ORIENTATION_TOPLEFT) *out = apply_orientation(*out, orientation);
    } else {
        st = read_rgba(tif.get(), t, out);
    }
    if (!st) {
        *out = Image();
        return with_reason(st, messages);
    }

    std::uint32_t icc_size = 0;
    void* icc = nullptr;
    if (TIFFGetField(tif.get(), TIFFTAG_ICCPROFILE, &icc_size, &icc) && icc && icc_size > 0)
        out->icc_profile.assign(static_cast<std::uint8_t*>(icc), static_cast<std::uint8_t*>(icc) + icc_size);
    return Status::ok();
}

Status save_tiff(const std::filesystem::path& path, const Image& image) {
    TiffMessages messages;
    // Classic TIFF addresses 4 GiB; larger images need BigTIFF ("w8").
    const bool big = image.pixels.size() > (std::size_t(1) << 31);
    TiffPtr tif = open_tiff(path, big ? "w8" : "w", &messages);
    if (!tif) return with_reason({StatusCode::IoError, "cannot open for writing"}, messages);

    TIFF* t = tif.get();
    const bool grey = image.channels <= 2;
    TIFFSetField(t, TIFFTAG_IMAGEWIDTH, std::uint32_t(image.width));
    TIFFSetField(t, TIFFTAG_IMAGELENGTH, std::uint32_t(image.height));
    TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, std::uint16_t(image.channels));
    TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, std::uint16_t(8 * sample_size(image.type)));
    TIFFSetField(t, TIFFTAG_SAMPLEFORMAT, image.type == SampleType::F32 ? SAMPLEFORMAT_IEEEFP : SAMPLEFORMAT_UINT);
    TIFFSetField(t, TIFFTAG_PHOTOMETRIC, grey ? PHOTOMETRIC_MINISBLACK : PHOTOMETRIC_RGB);
    TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
    TIFFSetField(t, TIFFTAG_ORIENTATION, ORIENTATION_TOPLEFT);
    if (TIFFIsCODECConfigured(COMPRESSION_ADOBE_DEFLATE)) TIFFSetField(t, TIFFTAG_COMPRESSION, COMPRESSION_ADOBE_DEFLATE);
    if (image.has_alpha()) {
        std::uint16_t extra = EXTRASAMPLE_UNASSALPHA;
        TIFFSetField(t, TIFFTAG_EXTRASAMPLES, 1, &extra);
    }
    if (!image.icc_profile.empty())
        TIFFSetField(t, TIFFTAG_ICCPROFILE, std::uint32_t(image.icc_profile.size()), image.icc_profile.data());
    ExifIfds exif;
    if (!image.exif.empty()) parse_exif_ifds(image.exif, &exif);
    for (const ExifEntry& e : exif.ifd0)  // the orientation stays 1: the pixels are upright
        if (is_descriptive(e.tag) && e.type == kExifAscii) TIFFSetField(t, e.tag, entry_text(e).c_str());
    std::erase_if(exif.exif, [](const ExifEntry& e) { return e.tag == kMakerNoteTag; });
    for (ExifEntry& e : exif.exif) {  // the size of this image, not of the one the EXIF came with
        if (e.tag != kPixelXDimensionTag && e.tag != kPixelYDimensionTag) continue;
        e = ExifEntry{e.tag, kExifLong, 1, {}};
        append_le32(&e.value, std::uint32_t(e.tag == kPixelXDimensionTag ? image.width : image.height));
    }
    // Placeholders, so that IFD0 has room for the sub-IFD offsets when it is written again below.
    if (!exif.exif.empty()) TIFFSetField(t, TIFFTAG_EXIFIFD, std::uint64_t(0));
    if (!exif.gps.empty()) TIFFSetField(t, TIFFTAG_GPSIFD, std::uint64_t(0));
    TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, TIFFDefaultStripSize(t, 0));

    std::vector<std::uint8_t> row(image.row_bytes());  // libtiff may modify the buffer it is given
    for (int y = 0; y < image.height; ++y) {
        std::memcpy(row.data(), image.pixels.data() + image.row_bytes() * y, row.size());
        if (TIFFWriteScanline(t, row.data(), std::uint32_t(y), 0) < 0)
            return with_reason({StatusCode::IoError, "write failed"}, messages);
    }
    if (exif.exif.empty() && exif.gps.empty()) {
        if (!TIFFFlush(t)) return with_reason({StatusCode::IoError, "write failed"}, messages);
        return Status::ok();
    }
    // The image's IFD first, then the sub-IFDs after it, then IFD0 again with their offsets (libtiff's way:
    // a custom directory is written on its own, and its offset set in the main one).
    if (!TIFFWriteDirectory(t)) return with_reason({StatusCode::IoError, "write failed"}, messages);
    std::uint64_t exif_offset = 0, gps_offset = 0;
    if (!exif.exif.empty() && !write_sub_ifd(t, TIFFCreateEXIFDirectory, exif.exif, &exif_offset))
        return with_reason({StatusCode::IoError, "writing the EXIF fields failed"}, messages);
    if (!exif.gps.empty() && !write_sub_ifd(t, TIFFCreateGPSDirectory, exif.gps, &gps_offset))
        return with_reason({StatusCode::IoError, "writing the GPS fields failed"}, messages);
    if (!TIFFSetDirectory(t, 0)) return with_reason({StatusCode::IoError, "write failed"}, messages);
    if (exif_offset) TIFFSetField(t, TIFFTAG_EXIFIFD, exif_offset);
    if (gps_offset) TIFFSetField(t, TIFFTAG_GPSIFD, gps_offset);
    if (!TIFFRewriteDirectory(t)) return with_reason({StatusCode::IoError, "write failed"}, messages);
    return Status::ok();
}

Bytes tiff_exif_block(ByteView file) {
    ExifIfds exif;
    if (!parse_exif_ifds(file, &exif)) return {};
    std::erase_if(exif.ifd0, [](const ExifEntry& e) { return !is_descriptive(e.tag); });
    if (exif.empty()) return {};
    // load_tiff applies the TIFF's orientation to the pixels, so the block says they are upright.
    ExifEntry orientation{TIFFTAG_ORIENTATION, kExifShort, 1, {1, 0}};
    exif.ifd0.insert(std::lower_bound(exif.ifd0.begin(), exif.ifd0.end(), orientation,
                                      [](const ExifEntry& a, const ExifEntry& b) { return a.tag < b.tag; }),
                     orientation);
    return build_exif(exif);
}

}  // namespace nalasr::detail
