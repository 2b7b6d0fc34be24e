// TTA's dihedral transforms on the GPU (core/src/tta.h): turning the input for a pass, adding a pass's output turned
// back into the float32 accumulator, and the mean. The same index math as the host's (core/src/dihedral.h), so the
// results are bit-identical to tta.cpp's (denormals aside, which this library flushes to 0). Images are float RGB
// (height, width, 3); every launcher enqueues on `stream` and returns the launch status (cudaGetLastError).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace nalasr::kernels {

// out becomes transform t (0..7) of rgb (width, height); its width and height are swapped when t transposes.
cudaError_t dihedral_transform(const float* rgb, int width, int height, int t, float* out, cudaStream_t stream);

// sum (width, height) += the inverse of transform t of `transformed` (in transform t's orientation).
cudaError_t add_inverse_dihedral(const float* transformed, int width, int height, int t, float* sum,
                                 cudaStream_t stream);

// values[0, n) *= factor.
cudaError_t scale_values(float* values, std::int64_t n, float factor, cudaStream_t stream);

}  // namespace nalasr::kernels
