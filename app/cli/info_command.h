// `nalasr info`: version, CUDA build and GPUs, the default model, models found on disk.
#pragma once

namespace nalasr::cli {

int run_info();

}  // namespace nalasr::cli
