// The index math of TTA's dihedral transforms (core/src/dihedral.h), which the host (tta.cpp) and the GPU
// (kernels/dihedral.cu) share: each transform t of a non-square image against its coordinates written out by hand,
// the inverse turning every transform back, and the 8 being distinct. The GPU kernels are checked against these
// host functions in tests/cuda/test_cuda_tta.cpp.
#include <gtest/gtest.h>

#include <set>
#include <utility>
#include <vector>

#include "dihedral.h"
#include "tta.h"

namespace nalasr::test {
namespace {

constexpr int kWidth = 5, kHeight = 3;  // not square: a transpose shows as swapped sizes

// Pixel (x, y) of the image holds the value 1000·x + y in every channel (+0.1, +0.2 for G and B).
std::vector<float> coordinate_image() {
    std::vector<float> rgb(kWidth * kHeight * 3);
    for (int y = 0; y < kHeight; ++y)
        for (int x = 0; x < kWidth; ++x)
            for (int c = 0; c < 3; ++c) rgb[(y * kWidth + x) * 3 + c] = 1000.0f * x + y + 0.1f * c;
    return rgb;
}

// Where pixel (x, y) of transform t comes from, (source x, source y), from the definition in dihedral.h: bit 2
// transposes, then bit 0 mirrors left-right and bit 1 top-bottom.
std::pair<int, int> expected_source(int t, int x, int y) {
    const int W = kWidth, H = kHeight;
    switch (t) {
        case 0: return {x, y};
        case 1: return {W - 1 - x, y};
        case 2: return {x, H - 1 - y};
        case 3: return {W - 1 - x, H - 1 - y};  // rotation by 180°
        case 4: return {y, x};                  // transpose
        case 5: return {y, H - 1 - x};          // rotation by 90°
        case 6: return {W - 1 - y, x};          // rotation by 90° the other way
        default: return {W - 1 - y, H - 1 - x};  // anti-transpose
    }
}

TEST(Dihedral, EachTransformMatchesItsDefinition) {
    const std::vector<float> rgb = coordinate_image();
    for (int t = 0; t < kDihedralTransforms; ++t) {
        std::vector<float> out;
        dihedral_transform(rgb.data(), kWidth, kHeight, t, &out);
        const bool swap = dihedral_swaps_axes(t);
        const int tw = swap ? kHeight : kWidth, th = swap ? kWidth : kHeight;
        const DihedralMap map = dihedral_map(t, kWidth, kHeight);
        EXPECT_EQ(map.tw, tw);
        EXPECT_EQ(map.th, th);
        ASSERT_EQ(out.size(), rgb.size());
        for (int y = 0; y < th; ++y)
            for (int x = 0; x < tw; ++x) {
                const auto [sx, sy] = expected_source(t, x, y);
                EXPECT_EQ(map.source(x, y), std::size_t(sy * kWidth + sx)) << "t=" << t << " at " << x << "," << y;
                for (int c = 0; c < 3; ++c)
                    EXPECT_EQ(out[(y * tw + x) * 3 + c], 1000.0f * sx + sy + 0.1f * c) << "t=" << t;
            }
    }
}

TEST(Dihedral, InverseTurnsEachTransformBack) {
    const std::vector<float> rgb = coordinate_image();
    std::set<std::vector<float>> distinct;
    for (int t = 0; t < kDihedralTransforms; ++t) {
        std::vector<float> turned, back(rgb.size(), 0.0f);
        dihedral_transform(rgb.data(), kWidth, kHeight, t, &turned);
        distinct.insert(turned);
        add_inverse_dihedral(turned, kWidth, kHeight, t, &back);
        EXPECT_EQ(back, rgb) << "t=" << t;
    }
    EXPECT_EQ(distinct.size(), std::size_t(kDihedralTransforms));
}

}  // namespace
}  // namespace nalasr::test
