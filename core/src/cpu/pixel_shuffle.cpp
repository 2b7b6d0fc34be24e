// Depth-to-space (torch.nn.PixelShuffle), OpenMP over input rows.
#include "cpu/ops.h"
#include "cpu/parallel.h"

namespace nalasr::cpu {

void pixel_shuffle(const float* x, int H, int W, int Cout, int s, float* out) {
    const std::size_t out_w = std::size_t(W) * s, in_c = std::size_t(Cout) * s * s;
#pragma omp parallel for schedule(static) if (std::size_t(H) * W * in_c >= kParallelMinWork)
    for (int y = 0; y < H; ++y)
        for (int xx = 0; xx < W; ++xx) {
            const float* src = x + (std::size_t(y) * W + xx) * in_c;
            for (int i = 0; i < s; ++i)
                for (int j = 0; j < s; ++j) {
                    float* dst = out + ((std::size_t(y) * s + i) * out_w + std::size_t(xx) * s + j) * Cout;
                    for (int c = 0; c < Cout; ++c) dst[c] = src[std::size_t(c) * s * s + i * s + j];
                }
        }
}

}  // namespace nalasr::cpu
