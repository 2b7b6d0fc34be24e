#include "metrics.h"

#include <cmath>
#include <limits>

namespace nalasr::cli {
namespace {

constexpr int kWindow = 11;
constexpr double kSigma = 1.5;

// The normalised 1-D Gaussian; the 2-D window is its outer product, so filtering is separable.
std::vector<double> gaussian_kernel() {
    std::vector<double> k(kWindow);
    double sum = 0;
    for (int i = 0; i < kWindow; ++i) {
        const double d = i - kWindow / 2;
        k[i] = std::exp(-d * d / (2 * kSigma * kSigma));
        sum += k[i];
    }
    for (double& v : k) v /= sum;
    return k;
}

// 'valid' 2-D Gaussian filtering of f(a, b) pixel-wise: output (w-10) x (h-10).
template <typename Fn>
Plane filter_valid(const Plane& a, const Plane& b, Fn&& f) {
    static const std::vector<double> k = gaussian_kernel();
    const int ow = a.width - kWindow + 1, oh = a.height - kWindow + 1;
    Plane rows{ow, a.height, std::vector<double>(std::size_t(ow) * a.height)};
    for (int y = 0; y < a.height; ++y)
        for (int x = 0; x < ow; ++x) {
            double s = 0;
            for (int i = 0; i < kWindow; ++i) s += k[i] * f(a.at(x + i, y), b.at(x + i, y));
            rows.values[std::size_t(y) * ow + x] = s;
        }
    Plane out{ow, oh, std::vector<double>(std::size_t(ow) * oh)};
    for (int y = 0; y < oh; ++y)
        for (int x = 0; x < ow; ++x) {
            double s = 0;
            for (int i = 0; i < kWindow; ++i) s += k[i] * rows.at(x, y + i);
            out.values[std::size_t(y) * ow + x] = s;
        }
    return out;
}

}  // namespace

Plane luma_bt601(const std::uint8_t* pixels, int width, int height, int channels) {
    Plane y{width, height, std::vector<double>(std::size_t(width) * height)};
    for (std::size_t p = 0; p < y.values.size(); ++p) {
        const std::uint8_t* px = pixels + p * channels;
        const double r = px[0], g = channels >= 3 ? px[1] : px[0], b = channels >= 3 ? px[2] : px[0];
        y.values[p] = 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0;
    }
    return y;
}

Plane shave_border(const Plane& plane, int shave) {
    const int w = plane.width - 2 * shave, h = plane.height - 2 * shave;
    if (shave <= 0 || w <= 0 || h <= 0) return shave <= 0 ? plane : Plane{};
    Plane out{w, h, std::vector<double>(std::size_t(w) * h)};
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) out.values[std::size_t(y) * w + x] = plane.at(x + shave, y + shave);
    return out;
}

double psnr(const Plane& a, const Plane& b) {
    double sum = 0;
    for (std::size_t i = 0; i < a.values.size(); ++i) {
        const double d = a.values[i] - b.values[i];
        sum += d * d;
    }
    const double mse = sum / double(a.values.size());
    if (mse == 0) return std::numeric_limits<double>::infinity();
    return 10.0 * std::log10(255.0 * 255.0 / mse);
}

double ssim(const Plane& a, const Plane& b) {
    constexpr double c1 = (0.01 * 255) * (0.01 * 255), c2 = (0.03 * 255) * (0.03 * 255);
    if (a.width < kWindow || a.height < kWindow) return std::numeric_limits<double>::quiet_NaN();
    const Plane mu_a = filter_valid(a, b, [](double x, double) { return x; });
    const Plane mu_b = filter_valid(a, b, [](double, double y) { return y; });
    const Plane aa = filter_valid(a, b, [](double x, double) { return x * x; });
    const Plane bb = filter_valid(a, b, [](double, double y) { return y * y; });
    const Plane ab = filter_valid(a, b, [](double x, double y) { return x * y; });
    double sum = 0;
    for (std::size_t i = 0; i < mu_a.values.size(); ++i) {
        const double ma = mu_a.values[i], mb = mu_b.values[i];
        const double var_a = aa.values[i] - ma * ma, var_b = bb.values[i] - mb * mb, cov = ab.values[i] - ma * mb;
        sum += ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (var_a + var_b + c2));
    }
    return sum / double(mu_a.values.size());
}

}  // namespace nalasr::cli
