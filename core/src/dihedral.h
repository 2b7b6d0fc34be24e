// The index math of TTA's 8 dihedral transforms (tta.h), shared by the host (tta.cpp) and the GPU
// (kernels/dihedral.cu), so that both turn images the same way. Plain C++; __host__ __device__ under nvcc.
#pragma once

#include <cstddef>

#ifdef __CUDACC__
#define NALASR_HOST_DEVICE __host__ __device__
#else
#define NALASR_HOST_DEVICE
#endif

namespace nalasr {

constexpr int kDihedralTransforms = 8;

// Transform t (0..7): bit 2 transposes (x ↔ y), then bit 0 mirrors left-right and bit 1 top-bottom. t = 0 is the
// identity; 5 and 6 are the rotations by 90°, 3 the rotation by 180°. The passes run in this order, so 0–3 keep the
// input's orientation and 4–7 swap it: a backend that keeps one arena per input size (CUDA) changes it once.
NALASR_HOST_DEVICE inline bool dihedral_swaps_axes(int t) { return (t & 4) != 0; }

// Where pixel (x, y) of transform t of an image (width, height) comes from, as an index of that image's pixels.
// The transform's size is (tw, th): (height, width) when it swaps the axes, else (width, height).
struct DihedralMap {
    int t, width, tw, th;
    NALASR_HOST_DEVICE std::size_t source(int x, int y) const {
        if (t & 1) x = tw - 1 - x;
        if (t & 2) y = th - 1 - y;
        if (dihedral_swaps_axes(t)) {
            const int column = y;
            y = x, x = column;
        }
        return std::size_t(y) * width + x;
    }
};

NALASR_HOST_DEVICE inline DihedralMap dihedral_map(int t, int width, int height) {
    const bool swap = dihedral_swaps_axes(t);
    return {t, width, swap ? height : width, swap ? width : height};
}

}  // namespace nalasr
