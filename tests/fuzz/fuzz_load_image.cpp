// libFuzzer target: load_image on arbitrary bytes. load_image reads from a path (libtiff opens the file
// itself), so each input goes to one temporary file first. Any outcome but a crash, a sanitizer report or a
// hang is fine: bad input must come back as a Status.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>

#include "nalasr/image.h"

namespace {

const std::filesystem::path& scratch_file() {
    static const std::filesystem::path path =
        std::filesystem::temp_directory_path() / ("nalasr-fuzz-image-" + std::to_string(::getpid()));
    return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::FILE* file = std::fopen(scratch_file().c_str(), "wb");
    if (!file) return 0;
    const bool written = std::fwrite(data, 1, size, file) == size;
    std::fclose(file);
    if (!written) return 0;
    nalasr::LoadOptions options;
    options.max_pixels = 1u << 22;  // headers may claim anything; keep the fuzzer's memory bounded
    nalasr::Image image;
    nalasr::LoadInfo info;
    if (nalasr::load_image(scratch_file(), &image, options, &info).is_ok() &&
        image.pixels.size() != image.row_bytes() * std::size_t(image.height))
        __builtin_trap();  // a loaded image must be consistent
    return 0;
}
