// EXIF in TIFF files: the EXIF block's entries (image_exif.h) and their round trip through save_image/load_image
// as TIFF fields: descriptive IFD0 fields, the EXIF and GPS sub-IFDs, orientation reset to 1, ICC kept.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>

#include "image_codec.h"
#include "image_exif.h"
#include "nalasr/image.h"
#include "temp_dir.h"

namespace fs = std::filesystem;
using nalasr::Image;
using nalasr::SampleType;
using namespace nalasr::detail;

namespace {

using nalasr::test::TempDir;

ExifEntry ascii(std::uint16_t tag, const std::string& text) {
    ExifEntry e{tag, kExifAscii, std::uint32_t(text.size() + 1), Bytes(text.begin(), text.end())};
    e.value.push_back(0);
    return e;
}

ExifEntry bytes(std::uint16_t tag, std::uint16_t type, const Bytes& value) {
    return {tag, type, std::uint32_t(value.size()), value};
}

ExifEntry shorts(std::uint16_t tag, std::vector<std::uint16_t> values) {
    ExifEntry e{tag, kExifShort, std::uint32_t(values.size()), {}};
    for (std::uint16_t v : values) e.value.insert(e.value.end(), {std::uint8_t(v), std::uint8_t(v >> 8)});
    return e;
}

ExifEntry longs(std::uint16_t tag, std::vector<std::uint32_t> values) {
    ExifEntry e{tag, kExifLong, std::uint32_t(values.size()), {}};
    for (std::uint32_t v : values) append_le32(&e.value, v);
    return e;
}

// Rationals as {numerator, denominator} pairs.
ExifEntry rationals(std::uint16_t tag, std::vector<std::pair<std::uint32_t, std::uint32_t>> values,
                    std::uint16_t type = kExifRational) {
    ExifEntry e{tag, type, std::uint32_t(values.size()), {}};
    for (auto [n, d] : values) append_le32(&e.value, n), append_le32(&e.value, d);
    return e;
}

// A camera's EXIF: IFD0 with orientation 6 and a resolution (layout, which TIFF does not take over), an EXIF
// sub-IFD with the usual types (a maker note, which TIFF leaves out, and a private tag libtiff does not know), a
// GPS sub-IFD.
ExifIfds camera_exif() {
    ExifIfds ifds;
    ifds.ifd0 = {ascii(0x010F, "NalaCam"), ascii(0x0110, "Model X1"), rationals(0x011A, {{300, 1}}),
                 shorts(0x0112, {6}), ascii(0x0131, "Firmware 1.2"), ascii(0x0132, "2024:05:06 07:08:09"),
                 ascii(0x013B, "A. Photographer"), ascii(0x8298, "(c) Nala")};
    ifds.exif = {rationals(0x829A, {{1, 200}}),                    // ExposureTime
                 rationals(0x829D, {{28, 10}}),                    // FNumber
                 shorts(0x8827, {400}),                            // ISO
                 bytes(0x9000, kExifUndefined, {'0', '2', '3', '2'}),  // ExifVersion
                 ascii(0x9003, "2024:05:06 07:08:09"),             // DateTimeOriginal
                 rationals(0x9204, {{std::uint32_t(-2), 3}}, kExifSRational),  // ExposureBiasValue -2/3
                 shorts(0x9209, {16}),                             // Flash
                 bytes(0x927C, kExifUndefined, Bytes(40, 0x77)),   // MakerNote
                 bytes(0x9286, kExifUndefined, {'A', 'S', 'C', 'I', 'I', 0, 0, 0, 'h', 'i'}),  // UserComment
                 shorts(0xA002, {4000}),                           // PixelXDimension
                 shorts(0xA003, {3000}),                           // PixelYDimension
                 rationals(0xA404, {{50, 1}}),                     // DigitalZoomRatio
                 ascii(0xA434, "Nala 35mm F1.4"),                  // LensModel
                 longs(0xC6F0, {7, 8, 9})};                        // private, unknown to libtiff
    ifds.gps = {bytes(0x0000, kExifByte, {2, 3, 0, 0}),            // GPSVersionID
                ascii(0x0001, "N"),                                // GPSLatitudeRef
                rationals(0x0002, {{52, 1}, {31, 1}, {1234, 100}}),  // GPSLatitude
                bytes(0x0005, kExifByte, {0}),                     // GPSAltitudeRef
                rationals(0x0006, {{345, 10}})};                   // GPSAltitude
    return ifds;
}

const ExifEntry* find(const std::vector<ExifEntry>& entries, std::uint16_t tag) {
    for (const ExifEntry& e : entries)
        if (e.tag == tag) return &e;
    return nullptr;
}

std::string text_of(const std::vector<ExifEntry>& entries, std::uint16_t tag) {
    const ExifEntry* e = find(entries, tag);
    if (!e || e->type != kExifAscii) return "(missing)";
    return std::string(e->value.begin(), std::find(e->value.begin(), e->value.end(), std::uint8_t(0)));
}

double number_of(const std::vector<ExifEntry>& entries, std::uint16_t tag, std::uint32_t k = 0) {
    const ExifEntry* e = find(entries, tag);
    double v = -1e30;
    if (e) exif_number(*e, k, &v);
    return v;
}

Bytes icc_profile() {
    Bytes icc(560, 0);
    for (std::size_t i = 132; i < icc.size(); ++i) icc[i] = std::uint8_t(i * 7);
    icc[2] = 0x02, icc[3] = 0x30;  // size 560
    std::memcpy(&icc[12], "mntrRGB XYZ ", 12);
    std::memcpy(&icc[36], "acsp", 4);
    const std::uint8_t d50[12] = {0, 0, 0xf6, 0xd6, 0, 1, 0, 0, 0, 0, 0xd3, 0x2d};
    std::memcpy(&icc[68], d50, sizeof(d50));
    return icc;
}

Image gradient(int w, int h) {
    Image im;
    im.allocate(w, h, 3, SampleType::U8);
    for (std::size_t i = 0; i < im.pixels.size(); ++i) im.pixels[i] = std::uint8_t(i * 5);
    return im;
}

// What the TIFF round trip must keep of camera_exif(), for an image of w x h.
void expect_camera_fields(const ExifIfds& got, int w, int h) {
    EXPECT_EQ(text_of(got.ifd0, 0x010F), "NalaCam");
    EXPECT_EQ(text_of(got.ifd0, 0x0110), "Model X1");
    EXPECT_EQ(text_of(got.ifd0, 0x0131), "Firmware 1.2");
    EXPECT_EQ(text_of(got.ifd0, 0x0132), "2024:05:06 07:08:09");
    EXPECT_EQ(text_of(got.ifd0, 0x013B), "A. Photographer");
    EXPECT_EQ(text_of(got.ifd0, 0x8298), "(c) Nala");
    EXPECT_EQ(find(got.ifd0, 0x011A), nullptr) << "the resolution is the TIFF's own layout, not carried over";
    ASSERT_NE(find(got.ifd0, 0x0112), nullptr);
    EXPECT_EQ(number_of(got.ifd0, 0x0112), 1) << "orientation reset: the pixels are upright";

    EXPECT_NEAR(number_of(got.exif, 0x829A), 1.0 / 200, 1e-9);
    EXPECT_NEAR(number_of(got.exif, 0x829D), 2.8, 1e-6);
    EXPECT_EQ(number_of(got.exif, 0x8827), 400);
    ASSERT_NE(find(got.exif, 0x9000), nullptr);
    EXPECT_EQ(find(got.exif, 0x9000)->value, (Bytes{'0', '2', '3', '2'}));
    EXPECT_EQ(text_of(got.exif, 0x9003), "2024:05:06 07:08:09");
    EXPECT_NEAR(number_of(got.exif, 0x9204), -2.0 / 3, 1e-6);
    EXPECT_EQ(number_of(got.exif, 0x9209), 16);
    EXPECT_EQ(find(got.exif, 0x927C), nullptr) << "the maker note is left out";
    ASSERT_NE(find(got.exif, 0x9286), nullptr);
    EXPECT_EQ(find(got.exif, 0x9286)->value, (Bytes{'A', 'S', 'C', 'I', 'I', 0, 0, 0, 'h', 'i'}));
    EXPECT_EQ(number_of(got.exif, 0xA002), w) << "PixelXDimension is the size of this image";
    EXPECT_EQ(number_of(got.exif, 0xA003), h);
    EXPECT_NEAR(number_of(got.exif, 0xA404), 50, 1e-6);
    EXPECT_EQ(text_of(got.exif, 0xA434), "Nala 35mm F1.4");
    ASSERT_NE(find(got.exif, 0xC6F0), nullptr);
    EXPECT_EQ(find(got.exif, 0xC6F0)->count, 3u);
    EXPECT_EQ(number_of(got.exif, 0xC6F0, 2), 9);

    ASSERT_NE(find(got.gps, 0x0000), nullptr);
    EXPECT_EQ(find(got.gps, 0x0000)->value, (Bytes{2, 3, 0, 0}));
    EXPECT_EQ(text_of(got.gps, 0x0001), "N");
    EXPECT_NEAR(number_of(got.gps, 0x0002, 0), 52, 1e-6);
    EXPECT_NEAR(number_of(got.gps, 0x0002, 1), 31, 1e-6);
    EXPECT_NEAR(number_of(got.gps, 0x0002, 2), 12.34, 1e-5);
    EXPECT_EQ(number_of(got.gps, 0x0005), 0);
    EXPECT_NEAR(number_of(got.gps, 0x0006), 34.5, 1e-6);
}

}  // namespace

TEST(ExifIfds, BuildThenParseGivesTheSameEntries) {
    const ExifIfds in = camera_exif();
    ExifIfds sorted = in;
    for (auto* ifd : {&sorted.ifd0, &sorted.exif, &sorted.gps})
        std::sort(ifd->begin(), ifd->end(), [](const ExifEntry& a, const ExifEntry& b) { return a.tag < b.tag; });
    const Bytes block = build_exif(in);
    ExifIfds out;
    ASSERT_TRUE(parse_exif_ifds(block, &out));
    EXPECT_EQ(out.ifd0, sorted.ifd0);
    EXPECT_EQ(out.exif, sorted.exif);
    EXPECT_EQ(out.gps, sorted.gps);
    EXPECT_EQ(exif_orientation(block), 6);
    EXPECT_TRUE(build_exif({}).empty());
}

TEST(ExifIfds, ReadsBigEndianBlocksAndSurvivesGarbage) {
    // Orientation-only block, big-endian: MM, IFD0 at 8, one SHORT entry.
    const Bytes be = {'M', 'M', 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0};
    ExifIfds out;
    ASSERT_TRUE(parse_exif_ifds(be, &out));
    ASSERT_EQ(out.ifd0.size(), 1u);
    EXPECT_EQ(out.ifd0[0], shorts(0x0112, {6}));
    EXPECT_FALSE(parse_exif_ifds(Bytes{1, 2, 3}, &out));
    // Every truncation and a few corruptions of a real block: no crash, no read past the end.
    const Bytes block = build_exif(camera_exif());
    for (std::size_t n = 0; n < block.size(); n += 3) parse_exif_ifds(ByteView(block.data(), n), &out);
    std::mt19937 rng(5);
    for (int i = 0; i < 200; ++i) {
        Bytes bad = block;
        for (int k = 0; k < 4; ++k) bad[rng() % bad.size()] = std::uint8_t(rng());
        parse_exif_ifds(bad, &out);
    }
}

// The brief's case: a photo from a camera (JPEG, EXIF with orientation 6) upscaled to TIFF keeps its EXIF and ICC.
TEST(TiffExif, JpegExifAndIccSurviveATiffRoundTrip) {
    TempDir dir;
    Image photo = gradient(24, 16);
    photo.exif = build_exif(camera_exif());
    photo.icc_profile = icc_profile();
    ASSERT_TRUE(nalasr::save_image(dir / "photo.jpg", photo).is_ok());
    Image loaded;
    ASSERT_TRUE(nalasr::load_image(dir / "photo.jpg", &loaded).is_ok());
    ASSERT_EQ(loaded.width, 16);  // orientation 6 applied
    ASSERT_EQ(exif_orientation(loaded.exif), 1);

    for (const char* name : {"out.tif", "out.tiff"}) {
        SCOPED_TRACE(name);
        ASSERT_TRUE(nalasr::save_image(dir / name, loaded).is_ok());
        Image back;
        nalasr::LoadInfo info;
        const auto st = nalasr::load_image(dir / name, &back, {}, &info);
        ASSERT_TRUE(st.is_ok()) << st.message();
        EXPECT_EQ(info.pages, 1) << "the sub-IFDs are not pages";
        EXPECT_TRUE(info.warnings.empty());
        EXPECT_EQ(back.width, 16);
        EXPECT_EQ(back.height, 24);
        EXPECT_EQ(back.pixels, loaded.pixels);
        EXPECT_EQ(back.icc_profile, photo.icc_profile);
        EXPECT_EQ(exif_orientation(back.exif), 1);
        ExifIfds got;
        ASSERT_TRUE(parse_exif_ifds(back.exif, &got));
        expect_camera_fields(got, 16, 24);

        // Once more through TIFF, then to JPEG: nothing more is lost.
        ASSERT_TRUE(nalasr::save_image(dir / "again.tif", back).is_ok());
        Image again;
        ASSERT_TRUE(nalasr::load_image(dir / "again.tif", &again).is_ok());
        ASSERT_TRUE(parse_exif_ifds(again.exif, &got));
        expect_camera_fields(got, 16, 24);
        ASSERT_TRUE(nalasr::save_image(dir / "again.jpg", again).is_ok());
        Image jpeg;
        ASSERT_TRUE(nalasr::load_image(dir / "again.jpg", &jpeg).is_ok());
        EXPECT_EQ(jpeg.exif, again.exif);
        EXPECT_EQ(jpeg.icc_profile, photo.icc_profile);
    }
}

// The TIFF's own orientation is applied to the pixels, and the EXIF block then says 1.
TEST(TiffExif, PlainTiffGivesNoExifAndOrientationOnlyExifAddsNone) {
    TempDir dir;
    Image im = gradient(8, 6);
    ASSERT_TRUE(nalasr::save_image(dir / "plain.tif", im).is_ok());
    Image back;
    ASSERT_TRUE(nalasr::load_image(dir / "plain.tif", &back).is_ok());
    EXPECT_TRUE(back.exif.empty()) << "a TIFF without EXIF fields gives no EXIF block";

    ExifIfds orientation_only;
    orientation_only.ifd0 = {shorts(0x0112, {3})};
    im.exif = build_exif(orientation_only);
    ASSERT_TRUE(nalasr::save_image(dir / "o.tif", im).is_ok());
    ASSERT_TRUE(nalasr::load_image(dir / "o.tif", &back).is_ok());
    EXPECT_EQ(back.pixels, im.pixels) << "the orientation written is 1";
    EXPECT_TRUE(back.exif.empty());
}

// Malformed EXIF blocks never fail the save: what cannot be read is left out.
TEST(TiffExif, MalformedExifIsLeftOut) {
    TempDir dir;
    Image im = gradient(8, 6);
    std::mt19937 rng(11);
    const Bytes block = build_exif(camera_exif());
    for (int i = 0; i < 30; ++i) {
        im.exif = block;
        for (int k = 0; k < 6; ++k) im.exif[rng() % im.exif.size()] = std::uint8_t(rng());
        const auto st = nalasr::save_image(dir / "m.tif", im);
        ASSERT_TRUE(st.is_ok()) << st.message();
        Image back;
        ASSERT_TRUE(nalasr::load_image(dir / "m.tif", &back).is_ok());
        EXPECT_EQ(back.pixels, im.pixels);
    }
}
