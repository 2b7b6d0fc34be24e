// Our PNG writer (image_png_writer.cpp, image_png_filter.cpp), checked against an independent decoder: OpenCV's
// imdecode (libpng, which also checks chunk CRCs and the zlib Adler-32). Every layout and depth, odd sizes, every
// compression level; save_image's metadata path is covered by ImageIoMetadata.IccAndExifRoundTrip.
#include <gtest/gtest.h>

#include <cstring>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <string>

#include "image_codec.h"
#include "random_image.h"

using nalasr::Image;
using nalasr::SampleType;
using nalasr::detail::Bytes;

namespace {

// What imdecode(IMREAD_UNCHANGED) must return for `image`: BGR(A) order, and grey + alpha expanded to BGRA.
cv::Mat expected_mat(const Image& image) {
    const int depth = image.type == SampleType::U16 ? CV_16U : CV_8U;
    cv::Mat rgb(image.height, image.width, CV_MAKETYPE(depth, image.channels), const_cast<std::uint8_t*>(image.pixels.data()));
    cv::Mat bgr;
    switch (image.channels) {
    case 1: bgr = rgb.clone(); break;
    case 2: {
        bgr.create(rgb.size(), CV_MAKETYPE(depth, 4));
        const int from_to[] = {0, 0, 0, 1, 0, 2, 1, 3};
        cv::mixChannels(&rgb, 1, &bgr, 1, from_to, 4);
        break;
    }
    case 3: {
        bgr.create(rgb.size(), rgb.type());
        const int from_to[] = {0, 2, 1, 1, 2, 0};
        cv::mixChannels(&rgb, 1, &bgr, 1, from_to, 3);
        break;
    }
    default: {
        bgr.create(rgb.size(), rgb.type());
        const int from_to[] = {0, 2, 1, 1, 2, 0, 3, 3};
        cv::mixChannels(&rgb, 1, &bgr, 1, from_to, 4);
        break;
    }
    }
    return bgr;
}

// Decodes with OpenCV and compares every sample; a failure message that says what differs.
::testing::AssertionResult decodes_exactly(const Bytes& png, const Image& image) {
    const cv::Mat decoded = cv::imdecode(cv::Mat(1, int(png.size()), CV_8U, const_cast<std::uint8_t*>(png.data())),
                                         cv::IMREAD_UNCHANGED);
    if (decoded.empty()) return ::testing::AssertionFailure() << "OpenCV could not decode it";
    const cv::Mat expected = expected_mat(image);
    if (decoded.size() != expected.size() || decoded.type() != expected.type())
        return ::testing::AssertionFailure() << "decoded " << decoded.cols << "x" << decoded.rows << " type "
                                             << decoded.type() << ", expected type " << expected.type();
    const double diff = cv::norm(decoded, expected, cv::NORM_INF);
    if (diff != 0) return ::testing::AssertionFailure() << "samples differ by up to " << diff;
    return ::testing::AssertionSuccess();
}

// Smooth, then noisy, with both bytes of 16-bit samples varying: filters see both easy and hard rows.
Image gradient_with_noise(int w, int h, int c, SampleType type) {
    Image im = nalasr::test::random_image(w, h, c, type, 11);
    for (int y = 0; y < h; ++y) {
        for (int x = 0; x < w; ++x) {
            for (int k = 0; k < c; ++k) {
                const std::size_t i = (std::size_t(y) * w + x) * c + k;
                const unsigned smooth = unsigned(x * 40 + y * 25 + k * 1000);
                if (type == SampleType::U8) {
                    im.pixels[i] = std::uint8_t((smooth >> 4) + (y >= h / 2 ? im.pixels[i] % 4 : 0));
                } else {
                    std::uint16_t v;
                    std::memcpy(&v, &im.pixels[2 * i], 2);
                    v = std::uint16_t(smooth * 7 + (y >= h / 2 ? v % 64 : 0));
                    std::memcpy(&im.pixels[2 * i], &v, 2);
                }
            }
        }
    }
    return im;
}

}  // namespace

TEST(PngWriter, EveryLayoutDepthAndOddSizeDecodesExactly) {
    const int sizes[][2] = {{1, 1}, {1, 9}, {9, 1}, {2, 2}, {37, 13}, {13, 37}, {255, 3}};
    for (SampleType type : {SampleType::U8, SampleType::U16}) {
        for (int c = 1; c <= 4; ++c) {
            for (const auto& size : sizes) {
                SCOPED_TRACE(std::string(nalasr::sample_type_name(type)) + " channels " + std::to_string(c) + " " +
                             std::to_string(size[0]) + "x" + std::to_string(size[1]));
                const Image image = nalasr::test::random_image(size[0], size[1], c, type, unsigned(c * 100 + size[0]));
                Bytes png;
                ASSERT_TRUE(nalasr::detail::encode_png(image, 3, &png).is_ok());
                EXPECT_TRUE(decodes_exactly(png, image));
            }
        }
    }
}

TEST(PngWriter, EveryCompressionLevelDecodesExactlyAndHigherLevelsAreSmaller) {
    for (SampleType type : {SampleType::U8, SampleType::U16}) {
        SCOPED_TRACE(nalasr::sample_type_name(type));
        const Image image = gradient_with_noise(96, 64, 3, type);
        std::size_t sizes[10] = {};
        for (int level = 0; level <= 9; ++level) {
            SCOPED_TRACE("level " + std::to_string(level));
            Bytes png;
            ASSERT_TRUE(nalasr::detail::encode_png(image, level, &png).is_ok());
            EXPECT_TRUE(decodes_exactly(png, image));
            sizes[level] = png.size();
        }
        const std::size_t raw = image.pixels.size() + std::size_t(image.height);  // samples + filter bytes
        EXPECT_GT(sizes[0], raw);       // 0 stores
        EXPECT_LT(sizes[3], raw * 3 / 4);  // the default compresses a half-smooth image
        EXPECT_LE(sizes[9], sizes[3]);
        EXPECT_LT(sizes[3], sizes[0]);
    }
}

TEST(PngWriter, OutOfRangeLevelsAreClampedAndFloatIsRefused) {
    const Image image = nalasr::test::random_image(5, 4, 2, SampleType::U8, 3);
    for (int level : {-5, 42}) {
        Bytes png;
        ASSERT_TRUE(nalasr::detail::encode_png(image, level, &png).is_ok());
        EXPECT_TRUE(decodes_exactly(png, image));
    }
    Bytes png;
    EXPECT_FALSE(nalasr::detail::encode_png(nalasr::test::random_image(5, 4, 3, SampleType::F32, 3), 3, &png).is_ok());
}
