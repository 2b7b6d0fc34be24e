// `nalasr info`: version, CUDA build and GPUs, the built-in models (scale, kind, parameters, recorded PSNR), the
// default model's provenance, models found on disk.
#pragma once

namespace nalasr::cli {

int run_info();

}  // namespace nalasr::cli
