// Inputs the fuzzers found (tests/fuzz/regressions/): each must load or fail with a Status, quickly and without
// a large allocation. run_fuzz.sh also replays them before fuzzing.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <filesystem>

#include "nalasr/image.h"

namespace fs = std::filesystem;

namespace {

long peak_rss_kib() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_maxrss;
}

const fs::path kRegressions = fs::path(NALASR_FIXTURES_DIR).parent_path() / "fuzz" / "regressions";

}  // namespace

TEST(FuzzRegressions, ImageLoaderRefusesWithoutHugeAllocations) {
    ASSERT_TRUE(fs::is_directory(kRegressions / "image")) << kRegressions;
    int files = 0;
    for (const auto& entry : fs::directory_iterator(kRegressions / "image")) {
        const long before = peak_rss_kib();
        nalasr::Image image;
        const nalasr::Status st = nalasr::load_image(entry.path(), &image);
        const long grown_mib = (peak_rss_kib() - before) / 1024;
        std::printf("  %s: %s (peak RSS grew %ld MiB)\n", entry.path().filename().c_str(),
                    st ? "loaded" : st.message().c_str(), grown_mib);
        EXPECT_LT(grown_mib, 256) << entry.path();
        ++files;
    }
    EXPECT_GT(files, 0);
}

// 178 bytes of TIFF claiming 65535 samples per pixel: libtiff's RGBA reader asked for 2 GiB.
TEST(FuzzRegressions, TiffWithAbsurdSamplesPerPixelIsUnsupported) {
    nalasr::Image image;
    const nalasr::Status st = nalasr::load_image(kRegressions / "image/tiff-65535-samples.tif", &image);
    EXPECT_EQ(st.code(), nalasr::StatusCode::UnsupportedFormat) << st.message();
    EXPECT_NE(st.message().find("65535 samples per pixel"), std::string::npos) << st.message();
}
