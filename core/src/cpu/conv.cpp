// Convolutions: dense 3×3 (row-band im2col + GEMM) and depthwise k×k.
//
// Threading: OpenMP only (cpu/gemm.h): conv3x3's im2col and its GEMM each split the band's pixels across
// threads; depthwise convs are OpenMP over output rows.
#include <algorithm>
#include <vector>

#include "cpu/gemm.h"
#include "cpu/ops.h"
#include "cpu/parallel.h"
#include "cpu/scratch.h"

namespace nalasr::cpu {
namespace {

// The im2col band holds about this many floats (4 MB): memory stays small and independent of the image.
constexpr std::size_t kBandFloats = std::size_t(1) << 20;

int band_rows(int H, int W, int Cin) {
    const std::size_t row_floats = std::size_t(W) * 9 * Cin;
    return int(std::clamp<std::size_t>(kBandFloats / row_floats, 1, std::size_t(H)));
}

// Depthwise convolution with filters transposed to (k*k, C), so the inner loop runs over contiguous channels.
void dwconv_transposed(const float* x, int H, int W, int C, int k, const float* wt, const float* bias, float* out,
                       bool add_input) {
    const int r = k / 2;
#pragma omp parallel for schedule(static) if (std::size_t(H) * W * C * k * k >= kParallelMinWork)
    for (int y = 0; y < H; ++y) {
        for (int xx = 0; xx < W; ++xx) {
            float* o = out + (std::size_t(y) * W + xx) * C;
            const float* self = x + (std::size_t(y) * W + xx) * C;
            for (int c = 0; c < C; ++c) o[c] = (bias ? bias[c] : 0.0f);
            for (int ky = 0; ky < k; ++ky) {
                const int sy = y + ky - r;
                if (sy < 0 || sy >= H) continue;
                for (int kx = 0; kx < k; ++kx) {
                    const int sx = xx + kx - r;
                    if (sx < 0 || sx >= W) continue;
                    const float* src = x + (std::size_t(sy) * W + sx) * C;
                    const float* w = wt + std::size_t(ky * k + kx) * C;
                    for (int c = 0; c < C; ++c) o[c] += src[c] * w[c];
                }
            }
            if (add_input)
                for (int c = 0; c < C; ++c) o[c] += self[c];
        }
    }
}

}  // namespace

std::size_t conv3x3_scratch_bytes(int H, int W, int Cin) {
    return std::size_t(band_rows(H, W, Cin)) * W * 9 * Cin * sizeof(float);
}

void conv3x3(const float* x, int H, int W, int Cin, const float* w, const float* bias, int Cout, float* out) {
    const int K = 9 * Cin;  // im2col column order (ci, ky, kx) matches PyTorch's (Cout, Cin, 3, 3) weight rows
    const int band = band_rows(H, W, Cin);
    Scratch col(std::size_t(band) * W * K);
    for (int y0 = 0; y0 < H; y0 += band) {
        const int rows = std::min(band, H - y0);
        const int pixels = rows * W;
#pragma omp parallel for schedule(static) if (std::size_t(pixels) * K >= kParallelMinWork)
        for (int p = 0; p < pixels; ++p) {
            const int y = y0 + p / W, xx = p % W;
            float* c = col.data() + std::size_t(p) * K;
            for (int ky = 0; ky < 3; ++ky) {
                for (int kx = 0; kx < 3; ++kx) {
                    const int sy = y + ky - 1, sx = xx + kx - 1, tap = ky * 3 + kx;
                    if (sy < 0 || sy >= H || sx < 0 || sx >= W) {
                        for (int ci = 0; ci < Cin; ++ci) c[ci * 9 + tap] = 0.0f;
                        continue;
                    }
                    const float* src = x + (std::size_t(sy) * W + sx) * Cin;
                    for (int ci = 0; ci < Cin; ++ci) c[ci * 9 + tap] = src[ci];
                }
            }
        }
        float* o = out + std::size_t(y0) * W * Cout;
        if (bias) {
            for (int p = 0; p < pixels; ++p) std::copy(bias, bias + Cout, o + std::size_t(p) * Cout);
        }
        gemm(std::size_t(pixels), Cout, K, 1.0f, col.data(), std::size_t(K), w, std::size_t(K), true,
             bias ? 1.0f : 0.0f, o, std::size_t(Cout));
    }
}

void dwconv(const float* x, int H, int W, int C, int k, const float* w, const float* bias, float* out,
            bool add_input) {
    std::vector<float> wt(std::size_t(k) * k * C);
    for (int c = 0; c < C; ++c)
        for (int t = 0; t < k * k; ++t) wt[std::size_t(t) * C + c] = w[std::size_t(c) * k * k + t];
    dwconv_transposed(x, H, W, C, k, wt.data(), bias, out, add_input);
}

void dwconv_shared(const float* x, int H, int W, int C, int group_width, int k, const float* w, const float* bias,
                   float* out) {
    std::vector<float> wt(std::size_t(k) * k * C), b(C);
    for (int c = 0; c < C; ++c) {
        const int f = c % group_width;
        for (int t = 0; t < k * k; ++t) wt[std::size_t(t) * C + c] = w[std::size_t(f) * k * k + t];
        b[c] = bias ? bias[f] : 0.0f;
    }
    dwconv_transposed(x, H, W, C, k, wt.data(), b.data(), out, false);
}

}  // namespace nalasr::cpu
