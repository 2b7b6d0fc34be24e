#include "eval_command.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>
#include <vector>

#include "exit_codes.h"
#include "interrupt.h"
#include "metrics.h"
#include "model_select.h"
#include "nalasr/engine.h"
#include "run_report.h"

namespace nalasr::cli {
namespace fs = std::filesystem;
namespace {

struct Pair {
    std::string name;
    fs::path hr, lr;
};

struct Score {
    double psnr = 0, ssim = 0;
};

constexpr char kHrSuffix[] = "_HR.png";

bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::vector<Pair> find_pairs(const fs::path& folder) {
    std::vector<Pair> pairs;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(folder, ec)) {
        const std::string name = entry.path().filename().string();
        if (!ends_with(name, kHrSuffix)) continue;
        const std::string stem = name.substr(0, name.size() - std::strlen(kHrSuffix));
        const fs::path lr = folder / (stem + "_LR.png");
        if (fs::exists(lr, ec)) pairs.push_back({stem, entry.path(), lr});
    }
    std::sort(pairs.begin(), pairs.end(), [](const Pair& a, const Pair& b) { return a.name < b.name; });
    return pairs;
}

// 8-bit grey/RGB(A) → float RGB in [0, 1] (grey as R = G = B).
std::vector<float> to_float_rgb(const Image& im) {
    std::vector<float> rgb(std::size_t(im.width) * im.height * 3);
    for (std::size_t p = 0; p < rgb.size() / 3; ++p)
        for (int k = 0; k < 3; ++k) rgb[p * 3 + k] = im.pixels[p * im.channels + (im.channels >= 3 ? k : 0)] / 255.0f;
    return rgb;
}

// As published tables do: the SR output is stored as 8 bits before it is measured.
std::vector<std::uint8_t> quantise(const float* rgb, std::size_t count) {
    std::vector<std::uint8_t> out(count);
    for (std::size_t i = 0; i < count; ++i) out[i] = std::uint8_t(std::lround(std::clamp(rgb[i], 0.0f, 1.0f) * 255.0f));
    return out;
}

Score measure(const std::vector<std::uint8_t>& sr, int sr_w, int sr_h, const Image& hr, int shave) {
    // HR sizes are multiples of the scale; crop both to the common size in case one is not.
    const int w = std::min(sr_w, hr.width), h = std::min(sr_h, hr.height);
    Plane y_sr = luma_bt601(sr.data(), sr_w, sr_h, 3), y_hr = luma_bt601(hr.pixels.data(), hr.width, hr.height, hr.channels);
    auto crop = [&](const Plane& p) {
        Plane c{w, h, std::vector<double>(std::size_t(w) * h)};
        for (int y = 0; y < h; ++y)
            for (int x = 0; x < w; ++x) c.values[std::size_t(y) * w + x] = p.at(x, y);
        return c;
    };
    const Plane a = shave_border(crop(y_sr), shave), b = shave_border(crop(y_hr), shave);
    return {psnr(a, b), ssim(a, b)};
}

Status load_8bit(const fs::path& path, Image* out) {
    if (auto st = load_image(path, out); !st) return st;
    if (out->type != SampleType::U8) return {StatusCode::UnsupportedFormat, path.string() + ": expected an 8-bit image"};
    return Status::ok();
}

}  // namespace

int run_eval(const EvalOptions& options) {
    BackendKind backend = BackendKind::Auto;
    if (!parse_backend_kind(options.device, &backend)) {
        std::fprintf(stderr, "nalasr: error: unknown --device '%s'\n", options.device.c_str());
        return kExitSetup;
    }
    Model model;
    std::string source;
    std::unique_ptr<Engine> engine;
    EngineParams engine_params;
    engine_params.backend = backend;
    engine_params.gpu_index = options.gpu;
    ModelRequest request;
    request.file = options.model;
    request.name = options.model_name;
    request.scale = options.scale;
    Status st = select_model(request, &model, &source);
    if (st) st = Engine::create(model, engine_params, &engine);
    if (!st) {
        std::fprintf(stderr, "nalasr: error: %s\n", st.message().c_str());
        return kExitSetup;
    }
    const int s = options.scale != 0 ? options.scale : model.config().scale;  // -n nalasr_nala_x2 needs no -s 2
    fs::path folder = options.dataset;
    if (find_pairs(folder).empty()) folder = options.dataset / std::string("x").append(std::to_string(s));
    const std::vector<Pair> pairs = find_pairs(folder);
    if (pairs.empty()) {
        std::fprintf(stderr, "nalasr: error: no *_HR.png / *_LR.png pairs in %s or %s\n", options.dataset.c_str(),
                     folder.c_str());
        return kExitSetup;
    }
    std::printf("%s on %s: %s, x%d, %s%s\n", folder.c_str(), engine->backend_name().c_str(), source.c_str(), s,
                attention_kind_name(model.config().attention), options.tta ? ", TTA (mean over 8 flips/rotations)" : "");
    std::printf("PSNR/SSIM on Y (BT.601), %d px shaved; bicubic = OpenCV INTER_CUBIC of the LR image\n\n", s);
    std::printf("%-24s %11s  %8s %7s   %8s %7s  %9s\n", "image", "LR size", "PSNR", "SSIM", "bicubic", "SSIM", "time");

    install_interrupt_handler();
    nlohmann::ordered_json rows = nlohmann::ordered_json::array();
    Score sum_net, sum_bicubic;
    int measured = 0, failed = 0;
    for (const Pair& pair : pairs) {
        if (interrupt_requested()) break;
        Image hr, lr;
        Status loaded = load_8bit(pair.hr, &hr);
        if (loaded) loaded = load_8bit(pair.lr, &lr);
        std::vector<float> sr;
        UpscaleParams params;
        params.should_abort = interrupt_requested;
        params.tta = options.tta;
        const auto start = std::chrono::steady_clock::now();
        const std::vector<float> lr_rgb = loaded ? to_float_rgb(lr) : std::vector<float>();
        if (loaded) loaded = engine->run_network(lr_rgb.data(), lr.width, lr.height, &sr, params, nullptr);
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (!loaded) {
            std::fprintf(stderr, "error: %s: %s\n", pair.name.c_str(), loaded.message().c_str());
            ++failed;
            continue;
        }
        const Score net = measure(quantise(sr.data(), sr.size()), lr.width * s, lr.height * s, hr, s);
        cv::Mat lr_mat(lr.height, lr.width, CV_32FC3, const_cast<float*>(lr_rgb.data())), bicubic;
        cv::resize(lr_mat, bicubic, cv::Size(lr.width * s, lr.height * s), 0, 0, cv::INTER_CUBIC);
        const Score bic = measure(quantise(bicubic.ptr<float>(), bicubic.total() * 3), bicubic.cols, bicubic.rows, hr, s);
        std::printf("%-24s %5dx%-5d  %8.3f %7.4f   %8.3f %7.4f  %8.2fs\n", pair.name.c_str(), lr.width, lr.height,
                    net.psnr, net.ssim, bic.psnr, bic.ssim, seconds);
        std::fflush(stdout);
        rows.push_back({{"image", pair.name}, {"lr_width", lr.width}, {"lr_height", lr.height}, {"psnr", net.psnr},
                        {"ssim", net.ssim}, {"bicubic_psnr", bic.psnr}, {"bicubic_ssim", bic.ssim}, {"seconds", seconds}});
        sum_net.psnr += net.psnr, sum_net.ssim += net.ssim;
        sum_bicubic.psnr += bic.psnr, sum_bicubic.ssim += bic.ssim;
        ++measured;
    }
    const int n = std::max(measured, 1);
    std::printf("%-24s %11s  %8.3f %7.4f   %8.3f %7.4f\n", "mean", "", sum_net.psnr / n, sum_net.ssim / n,
                sum_bicubic.psnr / n, sum_bicubic.ssim / n);
    if (!options.json.empty()) {
        nlohmann::ordered_json report = {
            {"dataset", folder.string()}, {"scale", s}, {"model", source}, {"backend", engine->backend_name()},
            {"tta", options.tta},
            {"images", rows},
            {"mean", {{"psnr", sum_net.psnr / n}, {"ssim", sum_net.ssim / n}, {"bicubic_psnr", sum_bicubic.psnr / n},
                      {"bicubic_ssim", sum_bicubic.ssim / n}}},
            {"provenance", parse_or_text(model.provenance())}};
        std::ofstream file(options.json);
        if (!(file << report.dump(2) << '\n')) {
            std::fprintf(stderr, "nalasr: error: %s: cannot write\n", options.json.c_str());
            return kExitSetup;
        }
    }
    if (interrupt_requested()) return kExitInterrupted;
    return failed > 0 || measured == 0 ? kExitSomeFailed : kExitOk;
}

}  // namespace nalasr::cli
