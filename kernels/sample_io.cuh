// Integer image samples ↔ the network's float RGB, on the GPU, so that 8- and 16-bit images cross the bus as
// they are (a quarter / half of the float bytes). Both conversions are bit-identical to the host ones of
// core/src/sample_convert.cpp: v / max on the way in (grey → R = G = B); on the way out, grey = (R + G + B) / 3,
// then x > 0 ? nearbyint(min(x, 1) · max) : 0 (NaN → 0), all in IEEE round-to-nearest float arithmetic.
// Images are interleaved with 1-4 channels; the last of 2 or 4 is alpha, which these kernels skip on the way in
// and write as 0 on the way out (the engine upscales alpha on the host).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace nalasr::kernels {

enum class IntSample { U8, U16 };

// rgb (pixels, 3) float32 in [0, 1] from the colour channels of `samples` (pixels, channels).
cudaError_t samples_to_rgb(const void* samples, IntSample type, int channels, std::int64_t pixels, float* rgb,
                           cudaStream_t stream);

// samples (pixels, channels) from rgb (pixels, 3): colour rounded and clamped to the type's range, alpha 0.
cudaError_t rgb_to_samples(const float* rgb, std::int64_t pixels, int channels, IntSample type, void* samples,
                           cudaStream_t stream);

}  // namespace nalasr::kernels
