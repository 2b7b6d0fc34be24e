// PSNR/SSIM/luma of app/cli/metrics.h against hand-computed values and a direct float64 reference.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "metrics.h"

using nalasr::cli::Plane;

namespace {

Plane random_plane(int w, int h, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> u(16.0, 235.0);
    Plane p{w, h, std::vector<double>(std::size_t(w) * h)};
    for (double& v : p.values) v = u(rng);
    return p;
}

Plane constant_plane(int w, int h, double value) { return Plane{w, h, std::vector<double>(std::size_t(w) * h, value)}; }

// SSIM straight from the definition: a 2-D Gaussian window (not separable filtering) at every valid position.
double reference_ssim(const Plane& a, const Plane& b) {
    const double c1 = std::pow(0.01 * 255, 2), c2 = std::pow(0.03 * 255, 2);
    double window[11][11], total = 0;
    for (int i = 0; i < 11; ++i)
        for (int j = 0; j < 11; ++j) total += window[i][j] = std::exp(-((i - 5) * (i - 5) + (j - 5) * (j - 5)) / (2 * 1.5 * 1.5));
    double sum = 0;
    int count = 0;
    for (int y = 0; y + 11 <= a.height; ++y) {
        for (int x = 0; x + 11 <= a.width; ++x) {
            double ma = 0, mb = 0, saa = 0, sbb = 0, sab = 0;
            for (int i = 0; i < 11; ++i)
                for (int j = 0; j < 11; ++j) {
                    const double w = window[i][j] / total, va = a.at(x + j, y + i), vb = b.at(x + j, y + i);
                    ma += w * va, mb += w * vb, saa += w * va * va, sbb += w * vb * vb, sab += w * va * vb;
                }
            const double va = saa - ma * ma, vb = sbb - mb * mb, cov = sab - ma * mb;
            sum += (2 * ma * mb + c1) * (2 * cov + c2) / ((ma * ma + mb * mb + c1) * (va + vb + c2));
            ++count;
        }
    }
    return sum / count;
}

}  // namespace

TEST(Metrics, IdenticalImagesGiveInfinityAndOne) {
    const Plane a = random_plane(40, 33, 1);
    EXPECT_TRUE(std::isinf(nalasr::cli::psnr(a, a)));
    EXPECT_NEAR(nalasr::cli::ssim(a, a), 1.0, 1e-12);
}

TEST(Metrics, ConstantOffsetByHand) {
    const Plane a = constant_plane(20, 20, 100), b = constant_plane(20, 20, 110);
    // MSE 100: PSNR = 10 log10(255² / 100).
    EXPECT_NEAR(nalasr::cli::psnr(a, b), 28.130803608679104, 1e-12);
    // Flat windows: variances and covariance are 0, so SSIM = (2·100·110 + C1) / (100² + 110² + C1).
    const double c1 = 6.5025;
    EXPECT_NEAR(nalasr::cli::ssim(a, b), (22000 + c1) / (22100 + c1), 1e-12);
}

TEST(Metrics, SsimMatchesDirectFloat64Reference) {
    for (unsigned seed : {2u, 3u, 4u}) {
        const Plane a = random_plane(37, 29, seed);
        Plane b = a;
        std::mt19937 rng(seed + 100);
        std::normal_distribution<double> noise(0, 12);
        for (double& v : b.values) v += noise(rng);
        const double got = nalasr::cli::ssim(a, b), want = reference_ssim(a, b);
        const double rel = std::abs(got - want) / std::abs(want);
        std::printf("SSIM seed %u: %.12f vs reference %.12f, relative error %.2e\n", seed, got, want, rel);
        EXPECT_LT(rel, 1e-12);
    }
}

TEST(Metrics, PsnrMatchesDirectFloat64Reference) {
    const Plane a = random_plane(31, 17, 5), b = random_plane(31, 17, 6);
    double sum = 0;
    for (std::size_t i = 0; i < a.values.size(); ++i) sum += (a.values[i] - b.values[i]) * (a.values[i] - b.values[i]);
    const double want = 20 * std::log10(255.0) - 10 * std::log10(sum / double(a.values.size()));
    const double got = nalasr::cli::psnr(a, b);
    std::printf("PSNR %.12f vs reference %.12f, relative error %.2e\n", got, want, std::abs(got - want) / want);
    EXPECT_LT(std::abs(got - want) / want, 1e-12);
}

TEST(Metrics, LumaBt601) {
    const std::uint8_t rgb[] = {0, 0, 0, 255, 255, 255, 255, 0, 0, 10, 200, 30};
    const Plane y = nalasr::cli::luma_bt601(rgb, 4, 1, 3);
    EXPECT_NEAR(y.values[0], 16.0, 1e-12);
    EXPECT_NEAR(y.values[1], 235.0, 1e-12);
    EXPECT_NEAR(y.values[2], 16.0 + 65.481, 1e-12);
    EXPECT_NEAR(y.values[3], 16.0 + (65.481 * 10 + 128.553 * 200 + 24.966 * 30) / 255.0, 1e-12);
    const std::uint8_t grey[] = {128}, grey_rgba[] = {128, 128, 128, 7};  // grey counts as R = G = B; alpha ignored
    EXPECT_NEAR(nalasr::cli::luma_bt601(grey, 1, 1, 1).values[0], 16.0 + 128 * 219.0 / 255.0, 1e-12);
    EXPECT_NEAR(nalasr::cli::luma_bt601(grey_rgba, 1, 1, 4).values[0], 16.0 + 128 * 219.0 / 255.0, 1e-12);
}

TEST(Metrics, ShaveRemovesExactlyTheBorder) {
    const Plane a = random_plane(30, 24, 7);
    Plane b = a;
    for (int x = 0; x < 30; ++x) b.values[std::size_t(3) * 30 + x] += 50;  // row 3 differs: inside a 4-px border
    EXPECT_TRUE(std::isinf(nalasr::cli::psnr(nalasr::cli::shave_border(a, 4), nalasr::cli::shave_border(b, 4))));
    EXPECT_FALSE(std::isinf(nalasr::cli::psnr(nalasr::cli::shave_border(a, 3), nalasr::cli::shave_border(b, 3))));
    const Plane s = nalasr::cli::shave_border(a, 4);
    EXPECT_EQ(s.width, 22);
    EXPECT_EQ(s.height, 16);
    EXPECT_EQ(s.at(0, 0), a.at(4, 4));
    EXPECT_EQ(s.at(21, 15), a.at(25, 19));
}
