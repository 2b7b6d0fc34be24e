// Image I/O: round trips per format, bit depth and channel layout; metadata (ICC, EXIF orientation); bad files;
// size limits; atomic writes. All fixtures are generated here, in a temporary folder.
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <opencv2/core.hpp>
#include <random>

#include "image_container.h"
#include "image_exif.h"
#include "image_transform.h"
#include "nalasr/image.h"
#include "temp_dir.h"

namespace fs = std::filesystem;
using nalasr::Image;
using nalasr::ImageFormat;
using nalasr::SampleType;
using nalasr::StatusCode;
using nalasr::detail::Bytes;

namespace {

using nalasr::test::TempDir;

Image random_image(int w, int h, int c, SampleType type, unsigned seed) {
    Image im;
    im.allocate(w, h, c, type);
    std::mt19937 rng(seed);
    const std::size_t n = std::size_t(w) * h * c;
    for (std::size_t i = 0; i < n; ++i) {
        switch (type) {
        case SampleType::U8: im.pixels[i] = std::uint8_t(rng()); break;
        case SampleType::U16: reinterpret_cast<std::uint16_t*>(im.pixels.data())[i] = std::uint16_t(rng()); break;
        case SampleType::F32:  // includes values outside [0, 1]: float TIFF must keep them
            reinterpret_cast<float*>(im.pixels.data())[i] = std::uniform_real_distribution<float>(-0.5f, 1.5f)(rng);
            break;
        }
    }
    return im;
}

// A smooth 8-bit image (JPEG's and lossy codecs' friendly case).
Image gradient_image(int w, int h, int c) {
    Image im;
    im.allocate(w, h, c, SampleType::U8);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
            for (int k = 0; k < c; ++k) im.pixels[(std::size_t(y) * w + x) * c + k] = std::uint8_t(std::min(255, x * 2 + y + k * 30));
    return im;
}

double mean_abs_difference(const Image& a, const Image& b) {
    double sum = 0;
    for (std::size_t i = 0; i < a.pixels.size(); ++i) sum += std::abs(int(a.pixels[i]) - int(b.pixels[i]));
    return sum / double(a.pixels.size());
}

void write_bytes(const fs::path& path, const Bytes& bytes) {
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

Bytes read_bytes(const fs::path& path) {
    std::ifstream f(path, std::ios::binary);
    return Bytes(std::istreambuf_iterator<char>(f), {});
}

Bytes random_bytes(std::size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    Bytes b(n);
    for (auto& v : b) v = std::uint8_t(rng());
    return b;
}

// PNG from raw parts (palette images, bogus headers): rows are filtered with filter 0.
Bytes make_png(int w, int h, int depth, int colour_type, const Bytes& rows, const Bytes& plte = {}, const Bytes& trns = {}) {
    using namespace nalasr::detail;
    Bytes ihdr;
    append_be32(&ihdr, std::uint32_t(w));
    append_be32(&ihdr, std::uint32_t(h));
    ihdr.insert(ihdr.end(), {std::uint8_t(depth), std::uint8_t(colour_type), 0, 0, 0});
    Bytes png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    append_png_chunk(&png, "IHDR", ihdr);
    if (!plte.empty()) append_png_chunk(&png, "PLTE", plte);
    if (!trns.empty()) append_png_chunk(&png, "tRNS", trns);
    append_png_chunk(&png, "IDAT", zlib_deflate(rows, 6));
    append_png_chunk(&png, "IEND", {});
    return png;
}

// EXIF block with only an orientation entry in IFD0.
Bytes exif_with_orientation(int orientation, bool big_endian) {
    Bytes b = big_endian ? Bytes{'M', 'M', 0, 42, 0, 0, 0, 8} : Bytes{'I', 'I', 42, 0, 8, 0, 0, 0};
    auto put16 = [&](std::uint32_t v) {
        if (big_endian) b.insert(b.end(), {std::uint8_t(v >> 8), std::uint8_t(v)});
        else b.insert(b.end(), {std::uint8_t(v), std::uint8_t(v >> 8)});
    };
    put16(1);         // one entry
    put16(0x0112);    // orientation
    put16(3);         // SHORT
    put16(1), put16(0);  // count 1 (32 bits, the order of halves follows the byte order)
    if (!big_endian) std::swap(b[b.size() - 1], b[b.size() - 3]), std::swap(b[b.size() - 2], b[b.size() - 4]);
    put16(std::uint32_t(orientation));
    put16(0);
    b.insert(b.end(), {0, 0, 0, 0});  // no next IFD
    return b;
}

// An uncompressed 8-bit grey TIFF with one strip per page; pixel i of page p is 10 (p + 1) + i. A non-zero
// `orientation` adds that tag.
Bytes make_tiff(int w, int h, int pages, int orientation = 0) {
    using namespace nalasr::detail;
    Bytes b = {'I', 'I', 42, 0};
    append_le32(&b, 8);
    const std::uint32_t entries = orientation ? 10 : 9, ifd_size = 2 + entries * 12 + 4;
    for (int p = 0; p < pages; ++p) {
        const std::uint32_t ifd_at = std::uint32_t(b.size()), data_at = ifd_at + ifd_size;
        const std::uint32_t next = p + 1 < pages ? data_at + std::uint32_t(w * h) : 0;
        b.insert(b.end(), {std::uint8_t(entries), 0});
        auto entry = [&](std::uint32_t tag, std::uint32_t type, std::uint32_t value) {
            b.insert(b.end(), {std::uint8_t(tag), std::uint8_t(tag >> 8), std::uint8_t(type), 0, 1, 0, 0, 0});
            append_le32(&b, value);
        };
        entry(256, 4, std::uint32_t(w));
        entry(257, 4, std::uint32_t(h));
        entry(258, 3, 8);
        entry(259, 3, 1);
        entry(262, 3, 1);
        entry(273, 4, data_at);
        if (orientation) entry(274, 3, std::uint32_t(orientation));
        entry(277, 3, 1);
        entry(278, 4, std::uint32_t(h));
        entry(279, 4, std::uint32_t(w * h));
        append_le32(&b, next);
        for (int i = 0; i < w * h; ++i) b.push_back(std::uint8_t(10 * (p + 1) + i));
    }
    return b;
}

const char* name(SampleType t) { return nalasr::sample_type_name(t); }

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// Round trips

TEST(ImageIoRoundTrip, PngAllLayoutsAndDepthsLossless) {
    TempDir dir;
    for (SampleType type : {SampleType::U8, SampleType::U16}) {
        for (int c = 1; c <= 4; ++c) {
            SCOPED_TRACE(std::string(name(type)) + " channels " + std::to_string(c));
            const Image in = random_image(37, 23, c, type, unsigned(c * 7));
            const fs::path path = dir / "räum mit leerzeichen.png";  // UTF-8 and spaces
            ASSERT_TRUE(nalasr::save_image(path, in).is_ok());
            Image out;
            nalasr::LoadInfo info;
            auto st = nalasr::load_image(path, &out, {}, &info);
            ASSERT_TRUE(st.is_ok()) << st.message();
            EXPECT_EQ(info.format, ImageFormat::Png);
            EXPECT_EQ(out.width, 37);
            EXPECT_EQ(out.height, 23);
            EXPECT_EQ(out.channels, c);
            EXPECT_EQ(out.type, type);
            EXPECT_TRUE(out.pixels == in.pixels);
        }
    }
}

TEST(ImageIoRoundTrip, PngFloatIsStoredAs16Bit) {
    TempDir dir;
    Image in;
    in.allocate(4, 1, 1, SampleType::F32);
    const float values[4] = {-0.25f, 0.0f, 0.5f, 1.75f};
    std::memcpy(in.pixels.data(), values, sizeof(values));
    ASSERT_TRUE(nalasr::save_image(dir / "f.png", in).is_ok());
    Image out;
    ASSERT_TRUE(nalasr::load_image(dir / "f.png", &out).is_ok());
    ASSERT_EQ(out.type, SampleType::U16);
    const auto* v = reinterpret_cast<const std::uint16_t*>(out.pixels.data());
    EXPECT_EQ(v[0], 0);
    EXPECT_EQ(v[1], 0);
    EXPECT_EQ(v[2], 32768);  // round(0.5 * 65535)
    EXPECT_EQ(v[3], 65535);
}

TEST(ImageIoRoundTrip, TiffAllLayoutsAndDepthsLossless) {
    TempDir dir;
    for (SampleType type : {SampleType::U8, SampleType::U16, SampleType::F32}) {
        for (int c = 1; c <= 4; ++c) {
            SCOPED_TRACE(std::string(name(type)) + " channels " + std::to_string(c));
            const Image in = random_image(41, 19, c, type, unsigned(c * 11));
            const fs::path path = dir / "tïff mit leerzeichen.tif";  // libtiff opens the path itself
            ASSERT_TRUE(nalasr::save_image(path, in).is_ok());
            Image out;
            nalasr::LoadInfo info;
            auto st = nalasr::load_image(path, &out, {}, &info);
            ASSERT_TRUE(st.is_ok()) << st.message();
            EXPECT_EQ(info.format, ImageFormat::Tiff);
            EXPECT_EQ(info.pages, 1);
            EXPECT_EQ(out.channels, c);
            EXPECT_EQ(out.type, type);
            EXPECT_TRUE(out.pixels == in.pixels);
        }
    }
}

TEST(ImageIoRoundTrip, TiffMultiPageLoadsFirstPageWithWarning) {
    TempDir dir;
    write_bytes(dir / "pages.tiff", make_tiff(6, 5, 3));
    Image out;
    nalasr::LoadInfo info;
    auto st = nalasr::load_image(dir / "pages.tiff", &out, {}, &info);
    ASSERT_TRUE(st.is_ok()) << st.message();
    EXPECT_EQ(info.pages, 3);
    ASSERT_EQ(info.warnings.size(), 1u);
    std::printf("warning: %s\n", info.warnings[0].c_str());
    EXPECT_EQ(out.width, 6);
    EXPECT_EQ(out.height, 5);
    EXPECT_EQ(out.channels, 1);
    for (int i = 0; i < 30; ++i) ASSERT_EQ(out.pixels[i], 10 + i);  // the first page
}

TEST(ImageIoRoundTrip, TiffOrientationTagIsApplied) {
    TempDir dir;
    write_bytes(dir / "rot.tif", make_tiff(3, 2, 1, 6));  // stored rows {10 11 12}, {13 14 15}; rotate 90° clockwise
    Image out;
    ASSERT_TRUE(nalasr::load_image(dir / "rot.tif", &out).is_ok());
    ASSERT_EQ(out.width, 2);
    ASSERT_EQ(out.height, 3);
    EXPECT_EQ(out.pixels, (Bytes{13, 10, 14, 11, 15, 12}));
}

// A TIFF whose alpha is associated (premultiplied) loads as straight alpha. The file is one of ours, with its
// ExtraSamples value patched from 2 (unassociated) to 1 (associated).
TEST(ImageIoRoundTrip, TiffAssociatedAlphaIsUnpremultiplied) {
    TempDir dir;
    Image in;
    in.allocate(1, 1, 4, SampleType::U8);
    in.pixels = {100, 50, 0, 128};
    ASSERT_TRUE(nalasr::save_image(dir / "a.tif", in).is_ok());
    Bytes file = read_bytes(dir / "a.tif");
    std::uint32_t ifd = 0, count = 0;
    ASSERT_TRUE(nalasr::detail::read_le32(file, 4, &ifd) && nalasr::detail::read_le16(file, ifd, &count));
    bool patched = false;
    for (std::uint32_t i = 0; i < count; ++i) {
        const std::size_t entry = ifd + 2 + 12 * i;
        std::uint32_t tag = 0;
        nalasr::detail::read_le16(file, entry, &tag);
        if (tag == 338 && file[entry + 8] == 2) file[entry + 8] = 1, patched = true;  // EXTRASAMPLE_ASSOCALPHA
    }
    ASSERT_TRUE(patched);
    write_bytes(dir / "a.tif", file);
    Image out;
    ASSERT_TRUE(nalasr::load_image(dir / "a.tif", &out).is_ok());
    EXPECT_EQ(out.pixels, (Bytes{199, 100, 0, 128}));  // 100 / (128/255) = 199.2, 50 / (128/255) = 99.6
}

TEST(ImageIoRoundTrip, JpegColourAndGrey) {
    TempDir dir;
    for (int c : {1, 3}) {
        const Image in = gradient_image(64, 48, c);
        ASSERT_TRUE(nalasr::save_image(dir / "g.jpg", in).is_ok());
        Image out;
        ASSERT_TRUE(nalasr::load_image(dir / "g.jpg", &out).is_ok());
        ASSERT_EQ(out.channels, c);
        ASSERT_EQ(out.type, SampleType::U8);
        const double err = mean_abs_difference(in, out);
        std::printf("JPEG q95, %d channel(s): mean abs error %.3f (of 255)\n", c, err);
        EXPECT_LT(err, 3.0);
    }
}

TEST(ImageIoRoundTrip, JpegDropsAlphaAndNarrows16Bit) {
    TempDir dir;
    Image in = random_image(16, 16, 4, SampleType::U16, 3);
    ASSERT_TRUE(nalasr::save_image(dir / "a.jpeg", in).is_ok());
    Image out;
    ASSERT_TRUE(nalasr::load_image(dir / "a.jpeg", &out).is_ok());
    EXPECT_EQ(out.channels, 3);
    EXPECT_EQ(out.type, SampleType::U8);
}

// Lossless WebP may change the colour of fully transparent pixels (libwebp's default, invisible anyway).
bool equal_where_visible(const Image& a, const Image& b) {
    const std::size_t c = std::size_t(a.channels), n = a.pixels.size() / c;
    for (std::size_t p = 0; p < n; ++p) {
        if (c == 4 && a.pixels[p * c + 3] == 0 && b.pixels[p * c + 3] == 0) continue;
        if (std::memcmp(&a.pixels[p * c], &b.pixels[p * c], c) != 0) return false;
    }
    return true;
}

TEST(ImageIoRoundTrip, WebpLosslessRgbAndRgba) {
    TempDir dir;
    for (int c : {3, 4}) {
        const Image in = random_image(33, 17, c, SampleType::U8, unsigned(c));
        ASSERT_TRUE(nalasr::save_image(dir / "w.webp", in).is_ok());  // default quality 101 = lossless
        Image out;
        nalasr::LoadInfo info;
        auto st = nalasr::load_image(dir / "w.webp", &out, {}, &info);
        ASSERT_TRUE(st.is_ok()) << st.message();
        EXPECT_EQ(info.format, ImageFormat::Webp);
        ASSERT_EQ(out.channels, c);
        EXPECT_TRUE(equal_where_visible(in, out));
    }
}

TEST(ImageIoRoundTrip, WebpGreyAlphaBecomesRgba) {
    TempDir dir;
    const Image in = random_image(8, 8, 2, SampleType::U16, 5);
    ASSERT_TRUE(nalasr::save_image(dir / "ga.webp", in).is_ok());
    Image out;
    ASSERT_TRUE(nalasr::load_image(dir / "ga.webp", &out).is_ok());
    ASSERT_EQ(out.channels, 4);
    const auto* src = reinterpret_cast<const std::uint16_t*>(in.pixels.data());
    for (int p = 0; p < 64; ++p) {
        const int grey = int(std::lround(src[2 * p] / 257.0)), alpha = int(std::lround(src[2 * p + 1] / 257.0));
        if (alpha == 0) continue;
        ASSERT_EQ(out.pixels[4 * p], grey);
        ASSERT_EQ(out.pixels[4 * p + 2], grey);
        ASSERT_EQ(out.pixels[4 * p + 3], alpha);
    }
}

TEST(ImageIoRoundTrip, BmpGreyAndRgbLosslessAlphaDropped) {
    TempDir dir;
    for (int c : {1, 3, 4}) {
        const Image in = random_image(13, 7, c, SampleType::U8, unsigned(c));
        ASSERT_TRUE(nalasr::save_image(dir / "b.bmp", in).is_ok());
        Image out;
        auto st = nalasr::load_image(dir / "b.bmp", &out);
        ASSERT_TRUE(st.is_ok()) << st.message();
        const Image expected = nalasr::detail::convert_channels(in, c == 4 ? 3 : c);  // BMP keeps no alpha
        EXPECT_EQ(out.channels, expected.channels);
        EXPECT_TRUE(out.pixels == expected.pixels);
    }
}

TEST(ImageIoRoundTrip, PalettePngBecomesRgbOrRgba) {
    TempDir dir;
    const Bytes plte = {255, 0, 0, 0, 255, 0, 0, 0, 255};
    const Bytes rows = {0, 0, 1, 2, 0, 2, 1, 0};  // 3x2: filter byte + 3 indices per row
    write_bytes(dir / "p.png", make_png(3, 2, 8, 3, rows, plte));
    Image out;
    auto st = nalasr::load_image(dir / "p.png", &out);
    ASSERT_TRUE(st.is_ok()) << st.message();
    ASSERT_EQ(out.channels, 3);
    EXPECT_EQ(out.pixels, (Bytes{255, 0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 255, 0, 255, 0, 255, 0, 0}));

    write_bytes(dir / "pt.png", make_png(3, 2, 8, 3, rows, plte, Bytes{128}));  // index 0 half transparent
    ASSERT_TRUE(nalasr::load_image(dir / "pt.png", &out).is_ok());
    ASSERT_EQ(out.channels, 4);
    EXPECT_EQ(out.pixels[3], 128);
    EXPECT_EQ(out.pixels[7], 255);
}

TEST(ImageIoRoundTrip, FormatComesFromContentNotExtension) {
    TempDir dir;
    const Image in = random_image(5, 5, 3, SampleType::U8, 1);
    nalasr::SaveOptions options;
    options.format = ImageFormat::Png;
    ASSERT_TRUE(nalasr::save_image(dir / "really_a_png.jpg", in, options).is_ok());
    Image out;
    nalasr::LoadInfo info;
    ASSERT_TRUE(nalasr::load_image(dir / "really_a_png.jpg", &out, {}, &info).is_ok());
    EXPECT_EQ(info.format, ImageFormat::Png);
    EXPECT_TRUE(out.pixels == in.pixels);
}

// ---------------------------------------------------------------------------------------------------------------
// Metadata

TEST(ImageIoMetadata, IccAndExifRoundTrip) {
    TempDir dir;
    Image in = gradient_image(20, 10, 3);
    in.exif = exif_with_orientation(1, false);
    in.exif.resize(in.exif.size() + 500, 0x5a);  // arbitrary trailing EXIF payload
    for (std::size_t icc_size : {3000, 200000}) {  // 200 KB needs several JPEG APP2 segments
        in.icc_profile = random_bytes(icc_size, unsigned(icc_size));
        // Enough of an ICC header for libpng's sanity checks (size, display class, RGB/XYZ, 'acsp', D50, no tags); the rest is noise.
        std::fill(in.icc_profile.begin(), in.icc_profile.begin() + 132, 0);
        for (int i = 0; i < 4; ++i) in.icc_profile[i] = std::uint8_t(icc_size >> (24 - 8 * i));
        std::memcpy(&in.icc_profile[12], "mntrRGB XYZ ", 12);
        std::memcpy(&in.icc_profile[36], "acsp", 4);
        const std::uint8_t d50[12] = {0, 0, 0xf6, 0xd6, 0, 1, 0, 0, 0, 0, 0xd3, 0x2d};
        std::memcpy(&in.icc_profile[68], d50, sizeof(d50));
        for (const char* file : {"m.png", "m.jpg", "m.webp", "m.tif"}) {
            SCOPED_TRACE(std::string(file) + " icc " + std::to_string(icc_size));
            ASSERT_TRUE(nalasr::save_image(dir / file, in).is_ok());
            Image out;
            auto st = nalasr::load_image(dir / file, &out);
            ASSERT_TRUE(st.is_ok()) << st.message();
            EXPECT_TRUE(out.icc_profile == in.icc_profile);
            // TIFF holds EXIF as fields, not as a block (test_tiff_exif.cpp); this block has only an orientation.
            if (std::string(file) != "m.tif") EXPECT_TRUE(out.exif == in.exif);
            else EXPECT_TRUE(out.exif.empty());
        }
    }
}

TEST(ImageIoMetadata, ExifOrientationParsedInBothByteOrders) {
    for (bool big_endian : {false, true}) {
        for (int o = 1; o <= 8; ++o) {
            Bytes exif = exif_with_orientation(o, big_endian);
            EXPECT_EQ(nalasr::detail::exif_orientation(exif), o);
            nalasr::detail::exif_reset_orientation(&exif);
            EXPECT_EQ(nalasr::detail::exif_orientation(exif), 1);
        }
    }
    EXPECT_EQ(nalasr::detail::exif_orientation(Bytes{}), 1);
    EXPECT_EQ(nalasr::detail::exif_orientation(random_bytes(64, 9)), 1);
}

// Every orientation against OpenCV's flip/transpose/rotate as the independent reference. EXIF 7 ("transverse"):
// stored row 0 is the displayed right column and stored column 0 the displayed bottom row.
TEST(ImageIoMetadata, ApplyOrientationMatchesOpenCv) {
    const Image in = random_image(7, 4, 3, SampleType::U16, 2);
    const cv::Mat src(in.height, in.width, CV_16UC3, const_cast<std::uint8_t*>(in.pixels.data()));
    for (int o = 1; o <= 8; ++o) {
        cv::Mat expected;
        switch (o) {
        case 1: expected = src.clone(); break;
        case 2: cv::flip(src, expected, 1); break;
        case 3: cv::rotate(src, expected, cv::ROTATE_180); break;
        case 4: cv::flip(src, expected, 0); break;
        case 5: cv::transpose(src, expected); break;
        case 6: cv::rotate(src, expected, cv::ROTATE_90_CLOCKWISE); break;
        case 7: cv::rotate(src, expected, cv::ROTATE_90_COUNTERCLOCKWISE), cv::flip(expected, expected, 1); break;
        case 8: cv::rotate(src, expected, cv::ROTATE_90_COUNTERCLOCKWISE); break;
        }
        const Image out = nalasr::detail::apply_orientation(in, o);
        ASSERT_EQ(out.width, expected.cols) << "orientation " << o;
        ASSERT_EQ(out.height, expected.rows) << "orientation " << o;
        EXPECT_EQ(0, std::memcmp(out.pixels.data(), expected.data, out.pixels.size())) << "orientation " << o;
    }
}

TEST(ImageIoMetadata, JpegExifOrientationIsAppliedAndReset) {
    TempDir dir;
    // 32x16: left half red, right half blue. Orientation 6 (rotate 90° clockwise) → 16x32, top red, bottom blue.
    Image in;
    in.allocate(32, 16, 3, SampleType::U8);
    for (int y = 0; y < 16; ++y)
        for (int x = 0; x < 32; ++x) in.pixels[(y * 32 + x) * 3 + (x < 16 ? 0 : 2)] = 255;
    in.exif = exif_with_orientation(6, true);
    ASSERT_TRUE(nalasr::save_image(dir / "rot.jpg", in).is_ok());
    Image out;
    ASSERT_TRUE(nalasr::load_image(dir / "rot.jpg", &out).is_ok());
    ASSERT_EQ(out.width, 16);
    ASSERT_EQ(out.height, 32);
    auto at = [&](int x, int y, int k) { return int(out.pixels[(y * 16 + x) * 3 + k]); };
    EXPECT_GT(at(8, 4, 0), 200);   // top: red
    EXPECT_LT(at(8, 4, 2), 60);
    EXPECT_GT(at(8, 28, 2), 200);  // bottom: blue
    EXPECT_LT(at(8, 28, 0), 60);
    EXPECT_EQ(nalasr::detail::exif_orientation(out.exif), 1);
    EXPECT_EQ(out.exif.size(), in.exif.size());
}

// ---------------------------------------------------------------------------------------------------------------
// Bad inputs: a clear Status, never a crash

TEST(ImageIoBadInput, EmptyFile) {
    TempDir dir;
    write_bytes(dir / "empty.png", {});
    Image out;
    auto st = nalasr::load_image(dir / "empty.png", &out);
    EXPECT_EQ(st.code(), StatusCode::CorruptData);
    std::printf("%s\n", st.message().c_str());
}

TEST(ImageIoBadInput, MissingFileAndFolder) {
    TempDir dir;
    Image out;
    EXPECT_EQ(nalasr::load_image(dir / "nope.png", &out).code(), StatusCode::IoError);
    EXPECT_EQ(nalasr::load_image(dir.path(), &out).code(), StatusCode::IoError);
}

TEST(ImageIoBadInput, RandomBytesWithImageExtension) {
    TempDir dir;
    write_bytes(dir / "noise.png", random_bytes(5000, 4));
    Image out;
    auto st = nalasr::load_image(dir / "noise.png", &out);
    EXPECT_EQ(st.code(), StatusCode::UnsupportedFormat);
    std::printf("%s\n", st.message().c_str());
}

TEST(ImageIoBadInput, TruncatedPng) {
    TempDir dir;
    ASSERT_TRUE(nalasr::save_image(dir / "full.png", random_image(64, 64, 3, SampleType::U8, 8)).is_ok());
    Bytes bytes = read_bytes(dir / "full.png");
    bytes.resize(bytes.size() / 2);
    write_bytes(dir / "half.png", bytes);
    Image out;
    auto st = nalasr::load_image(dir / "half.png", &out);
    EXPECT_EQ(st.code(), StatusCode::CorruptData);
    EXPECT_TRUE(out.empty());
    std::printf("%s\n", st.message().c_str());
}

// Every format cut at many lengths, and with bytes flipped: any Status is fine, a crash is not.
TEST(ImageIoBadInput, TruncatedAndDamagedFilesOfEveryFormatDoNotCrash) {
    TempDir dir;
    const Image in = gradient_image(40, 30, 4);
    for (const char* file : {"d.png", "d.jpg", "d.webp", "d.bmp", "d.tif"}) {
        ASSERT_TRUE(nalasr::save_image(dir / file, in).is_ok());
        const Bytes full = read_bytes(dir / file);
        int failures = 0;
        for (int i = 1; i < 20; ++i) {
            Bytes cut(full.begin(), full.begin() + std::ptrdiff_t(full.size() * i / 20));
            write_bytes(dir / "cut", cut);
            Image out;
            failures += !nalasr::load_image(dir / "cut", &out).is_ok();
            Bytes damaged = full;
            std::mt19937 rng{unsigned(i)};
            for (int k = 0; k < 8; ++k) damaged[rng() % damaged.size()] ^= std::uint8_t(1 + rng() % 255);
            write_bytes(dir / "damaged", damaged);
            (void)nalasr::load_image(dir / "damaged", &out);
        }
        std::printf("%s: %d of 19 truncations refused\n", file, failures);
    }
}

TEST(ImageIoBadInput, HugeHeaderIsRefusedBeforeDecoding) {
    TempDir dir;
    write_bytes(dir / "bomb.png", make_png(100000, 100000, 8, 0, Bytes(100, 0)));
    Image out;
    const auto start = std::chrono::steady_clock::now();
    auto st = nalasr::load_image(dir / "bomb.png", &out);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    EXPECT_EQ(st.code(), StatusCode::InvalidArgument);
    EXPECT_LT(ms, 1000.0);
    std::printf("%s (%.2f ms)\n", st.message().c_str(), ms);
}

TEST(ImageIoBadInput, PixelLimitAppliesToEveryFormat) {
    TempDir dir;
    const Image in = gradient_image(100, 100, 3);
    nalasr::LoadOptions small;
    small.max_pixels = 9999;
    for (const char* file : {"l.png", "l.jpg", "l.webp", "l.bmp", "l.tif"}) {
        ASSERT_TRUE(nalasr::save_image(dir / file, in).is_ok());
        Image out;
        EXPECT_EQ(nalasr::load_image(dir / file, &out, small).code(), StatusCode::InvalidArgument) << file;
        small.max_pixels = 10000;
        EXPECT_TRUE(nalasr::load_image(dir / file, &out, small).is_ok()) << file;
        small.max_pixels = 9999;
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Saving: limits, atomicity, errors

TEST(ImageIoSave, SizesTheFormatCannotHoldAreRefusedBeforeWriting) {
    TempDir dir;
    Image wide;
    wide.allocate(16384, 1, 3, SampleType::U8);
    auto st = nalasr::save_image(dir / "wide.webp", wide);
    EXPECT_EQ(st.code(), StatusCode::InvalidArgument);
    std::printf("%s\n", st.message().c_str());
    Image tall;
    tall.allocate(1, 65536, 1, SampleType::U8);
    EXPECT_EQ(nalasr::save_image(dir / "tall.jpg", tall).code(), StatusCode::InvalidArgument);
    EXPECT_EQ(dir.entries(), 0u);
}

TEST(ImageIoSave, UnwritableDestinationLeavesNothingBehind) {
    TempDir dir;
    const Image in = random_image(8, 8, 3, SampleType::U8, 6);
    auto st = nalasr::save_image(dir / "missing folder/x.png", in);
    EXPECT_EQ(st.code(), StatusCode::IoError);
    std::printf("%s\n", st.message().c_str());
    // The rename fails when the destination is a non-empty folder: the temporary file must be gone.
    fs::create_directories(dir / "occupied.png/child");
    for (const char* file : {"occupied.png", "occupied.png"}) {
        EXPECT_EQ(nalasr::save_image(dir / file, in).code(), StatusCode::IoError);
    }
    nalasr::SaveOptions as_tiff;
    as_tiff.format = ImageFormat::Tiff;
    EXPECT_EQ(nalasr::save_image(dir / "occupied.png", in, as_tiff).code(), StatusCode::IoError);
    EXPECT_EQ(dir.entries(), 1u);  // only the folder
}

TEST(ImageIoSave, ReplacesAnExistingFileAtomically) {
    TempDir dir;
    write_bytes(dir / "x.png", Bytes{1, 2, 3});
    const Image in = random_image(8, 8, 1, SampleType::U8, 7);
    ASSERT_TRUE(nalasr::save_image(dir / "x.png", in).is_ok());
    Image out;
    ASSERT_TRUE(nalasr::load_image(dir / "x.png", &out).is_ok());
    EXPECT_TRUE(out.pixels == in.pixels);
    EXPECT_EQ(dir.entries(), 1u);
}

TEST(ImageIoSave, BadImagesAndUnknownExtensionsAreInvalidArguments) {
    TempDir dir;
    Image empty;
    EXPECT_EQ(nalasr::save_image(dir / "e.png", empty).code(), StatusCode::InvalidArgument);
    Image wrong = random_image(4, 4, 3, SampleType::U8, 1);
    wrong.pixels.pop_back();
    EXPECT_EQ(nalasr::save_image(dir / "w.png", wrong).code(), StatusCode::InvalidArgument);
    auto st = nalasr::save_image(dir / "x.gif", random_image(4, 4, 3, SampleType::U8, 1));
    EXPECT_EQ(st.code(), StatusCode::InvalidArgument);
    std::printf("%s\n", st.message().c_str());
    EXPECT_EQ(dir.entries(), 0u);
}

TEST(ImageIoBasics, FormatNamesAndExtensions) {
    EXPECT_EQ(nalasr::image_format_from_extension(".PNG"), ImageFormat::Png);
    EXPECT_EQ(nalasr::image_format_from_extension("jpeg"), ImageFormat::Jpeg);
    EXPECT_EQ(nalasr::image_format_from_extension(".tif"), ImageFormat::Tiff);
    EXPECT_EQ(nalasr::image_format_from_extension(".webp"), ImageFormat::Webp);
    EXPECT_EQ(nalasr::image_format_from_extension(".bmp"), ImageFormat::Bmp);
    EXPECT_EQ(nalasr::image_format_from_extension(".gif"), ImageFormat::Unknown);
    EXPECT_STREQ(nalasr::image_format_name(ImageFormat::Jpeg), "jpg");
    EXPECT_EQ(nalasr::sample_size(SampleType::F32), 4u);
}
