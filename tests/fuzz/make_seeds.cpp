// Writes the fuzzers' seed corpus into FOLDER/image and FOLDER/model: tiny valid files of every format and
// layout the image loader reads (with ICC and EXIF where the format holds them), and a tiny model.
//
//   make_seeds FOLDER
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "image_container.h"
#include "image_exif.h"
#include "nalasr/image.h"
#include "nalasr/model.h"
#include "random_image.h"
#include "tiny_model.h"

namespace fs = std::filesystem;
using namespace nalasr;

namespace {

// EXIF with the orientation, a camera make and an EXIF sub-IFD (so that the TIFF seeds hold EXIF fields too),
// and a stand-in ICC profile.
const std::vector<std::uint8_t> kExif = detail::build_exif(
    {.ifd0 = {{0x010F, detail::kExifAscii, 5, {'N', 'a', 'l', 'a', 0}}, {0x0112, detail::kExifShort, 1, {6, 0}}},
     .exif = {{0x8827, detail::kExifShort, 1, {0x90, 0x01}}, {0x9003, detail::kExifAscii, 5, {'2', '0', '2', '4', 0}}}});
const std::vector<std::uint8_t> kIcc(128, 0x42);

// An 8-bit palette PNG, which the encoders do not write.
detail::Bytes palette_png() {
    detail::Bytes png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    detail::Bytes ihdr;
    detail::append_be32(&ihdr, 3);
    detail::append_be32(&ihdr, 2);
    ihdr.insert(ihdr.end(), {8, 3, 0, 0, 0});
    detail::append_png_chunk(&png, "IHDR", ihdr);
    detail::append_png_chunk(&png, "PLTE", detail::Bytes{255, 0, 0, 0, 255, 0});
    detail::append_png_chunk(&png, "IDAT", detail::zlib_deflate(detail::Bytes{0, 0, 1, 0, 0, 1, 1, 0}, 6));
    detail::append_png_chunk(&png, "IEND", {});
    return png;
}

bool save(const fs::path& path, Image image, bool metadata) {
    if (metadata) {
        image.icc_profile = kIcc;
        image.exif = kExif;
    }
    if (auto st = save_image(path, image); !st) {
        std::fprintf(stderr, "make_seeds: %s\n", st.message().c_str());
        return false;
    }
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: make_seeds FOLDER\n");
        return 2;
    }
    const fs::path images = fs::path(argv[1]) / "image", models = fs::path(argv[1]) / "model";
    fs::create_directories(images);
    fs::create_directories(models);
    bool ok = true;
    ok &= save(images / "rgb8.png", test::random_image(5, 4, 3, SampleType::U8, 1), true);
    ok &= save(images / "grey16.png", test::random_image(4, 3, 1, SampleType::U16, 2), false);
    ok &= save(images / "grey_alpha.png", test::random_image(3, 3, 2, SampleType::U8, 3), false);
    ok &= save(images / "rgba16.png", test::random_image(3, 2, 4, SampleType::U16, 4), false);
    ok &= save(images / "photo.jpg", test::random_image(8, 8, 3, SampleType::U8, 5), true);
    ok &= save(images / "grey.jpg", test::random_image(8, 8, 1, SampleType::U8, 6), false);
    ok &= save(images / "rgb.webp", test::random_image(4, 4, 3, SampleType::U8, 7), true);
    ok &= save(images / "rgba.webp", test::random_image(4, 4, 4, SampleType::U8, 8), false);
    ok &= save(images / "rgb.bmp", test::random_image(3, 3, 3, SampleType::U8, 9), false);
    ok &= save(images / "grey8.tif", test::random_image(4, 3, 1, SampleType::U8, 10), false);
    ok &= save(images / "rgb16.tif", test::random_image(3, 3, 3, SampleType::U16, 11), true);
    ok &= save(images / "rgbaf32.tif", test::random_image(2, 2, 4, SampleType::F32, 12), false);
    const detail::Bytes palette = palette_png();
    std::ofstream(images / "palette.png", std::ios::binary).write(reinterpret_cast<const char*>(palette.data()),
                                                                   std::streamsize(palette.size()));

    ModelConfig config = test::tiny_config();
    config.channels = 8;  // the smallest model file: a seed, not a network to run
    if (auto st = Model::random(config, 1).save_file(models / "tiny_x2.safetensors"); !st) {
        std::fprintf(stderr, "make_seeds: %s\n", st.message().c_str());
        ok = false;
    }
    return ok ? 0 : 1;
}
