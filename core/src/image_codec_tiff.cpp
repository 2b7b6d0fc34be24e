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
    TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, TIFFDefaultStripSize(t, 0));

    std::vector<std::uint8_t> row(image.row_bytes());  // libtiff may modify the buffer it is given
    for (int y = 0; y < image.height; ++y) {
        std::memcpy(row.data(), image.pixels.data() + image.row_bytes() * y, row.size());
        if (TIFFWriteScanline(t, row.data(), std::uint32_t(y), 0) < 0)
            return with_reason({StatusCode::IoError, "write failed"}, messages);
    }
    if (!TIFFFlush(t)) return with_reason({StatusCode::IoError, "write failed"}, messages);
    return Status::ok();
}

}  // namespace nalasr::detail
