// PNG encoding benchmark (a tool, not a test): our writer (detail::encode_png) at png_compression 0/1/3/6/9 against
// OpenCV's imencode at levels 1/3/6 and with the RLE strategy, on one image; prints ms per image (best of --reps,
// one thread) and bytes. Our times include the RGB and byte-order handling; OpenCV's exclude its RGB->BGR copy.
//   nalasr_png_bench IMAGE [--crop X Y W H] [--scale N] [--u16] [--reps N]
// docs/benchmarks.md ("PNG writing") has the command lines and the numbers.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <string>
#include <vector>

#include "image_codec.h"
#include "image_transform.h"
#include "nalasr/image.h"

using nalasr::Image;
using nalasr::SampleType;

namespace {

template <class F>
double best_ms(int reps, F&& run) {
    double best = 1e30;
    for (int r = 0; r < reps; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        run();
        best = std::min(best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    return best;
}

Image crop(const Image& in, int x0, int y0, int w, int h) {
    Image out;
    out.allocate(w, h, in.channels, in.type);
    const std::size_t px = std::size_t(in.channels) * nalasr::sample_size(in.type);
    for (int y = 0; y < h; ++y)
        std::memcpy(out.pixels.data() + out.row_bytes() * y, in.pixels.data() + in.row_bytes() * (y0 + y) + px * x0,
                    out.row_bytes());
    return out;
}

int usage() {
    std::fprintf(stderr, "usage: nalasr_png_bench IMAGE [--crop X Y W H] [--scale N] [--u16] [--reps N]\n");
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) return usage();
    int scale = 1, reps = 3, cx = 0, cy = 0, cw = 0, ch = 0;
    bool u16 = false;
    for (int i = 2; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--crop" && i + 4 < argc) {
            cx = std::atoi(argv[++i]), cy = std::atoi(argv[++i]), cw = std::atoi(argv[++i]), ch = std::atoi(argv[++i]);
        } else if (a == "--scale" && i + 1 < argc) {
            scale = std::atoi(argv[++i]);
        } else if (a == "--reps" && i + 1 < argc) {
            reps = std::max(1, std::atoi(argv[++i]));
        } else if (a == "--u16") {
            u16 = true;
        } else {
            return usage();
        }
    }
    Image image;
    if (auto st = nalasr::load_image(argv[1], &image); !st) {
        std::fprintf(stderr, "%s\n", st.message().c_str());
        return 1;
    }
    if (cw > 0 && ch > 0) image = crop(image, cx, cy, cw, ch);
    if (u16) image = nalasr::detail::convert_sample_type(image, SampleType::U16);  // before resizing: real low bits
    if (scale > 1) {
        Image big;
        if (auto st = nalasr::resize_image(image, image.width * scale, image.height * scale, &big); !st) return 1;
        image = std::move(big);
    }
    std::printf("%dx%d, %d channels, %s, best of %d\n", image.width, image.height, image.channels,
                nalasr::sample_type_name(image.type), reps);

    const int depth = image.type == SampleType::U16 ? CV_16U : CV_8U;
    cv::Mat mat(image.height, image.width, CV_MAKETYPE(depth, image.channels), image.pixels.data()), bgr;
    if (image.channels == 3) cv::cvtColor(mat, bgr, cv::COLOR_RGB2BGR);
    else if (image.channels == 4) cv::cvtColor(mat, bgr, cv::COLOR_RGBA2BGRA);
    else bgr = mat;
    struct OpenCvCase { const char* name; int level, strategy; };
    for (const OpenCvCase c : {OpenCvCase{"OpenCV level 1", 1, cv::IMWRITE_PNG_STRATEGY_DEFAULT},
                               OpenCvCase{"OpenCV level 3 (the old default)", 3, cv::IMWRITE_PNG_STRATEGY_DEFAULT},
                               OpenCvCase{"OpenCV level 6", 6, cv::IMWRITE_PNG_STRATEGY_DEFAULT},
                               OpenCvCase{"OpenCV level 3, strategy RLE", 3, cv::IMWRITE_PNG_STRATEGY_RLE}}) {
        std::vector<std::uint8_t> out;
        // COMPRESSION before STRATEGY: OpenCV resets the strategy to DEFAULT when it reads a compression level.
        const std::vector<int> params = {cv::IMWRITE_PNG_COMPRESSION, c.level, cv::IMWRITE_PNG_STRATEGY, c.strategy};
        const double ms = best_ms(reps, [&] { cv::imencode(".png", bgr, out, params); });
        std::printf("%-36s %9.1f ms %12zu bytes\n", c.name, ms, out.size());
    }
    for (int level : {0, 1, 3, 4, 6, 9}) {
        nalasr::detail::Bytes out;
        const double ms = best_ms(reps, [&] { (void)nalasr::detail::encode_png(image, level, &out); });
        std::printf("ours, png_compression %d%-14s %9.1f ms %12zu bytes\n", level, level == 3 ? " (default)" : "", ms,
                    out.size());
    }
    return 0;
}
