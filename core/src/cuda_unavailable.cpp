// The CUDA entry points of a CPU-only build (NALASR_WITH_CUDA == 0); core/src/cuda/ has the real ones.
#include "backend.h"

#if !NALASR_WITH_CUDA

namespace nalasr {

Status create_cuda_backend(const Model&, int, std::unique_ptr<Backend>*) {
    return {StatusCode::BackendUnavailable, "this build of NalaSR has no CUDA backend (built without CUDA)"};
}

std::vector<GpuInfo> list_gpus() { return {}; }

bool cuda_compiled() { return false; }

}  // namespace nalasr

#endif
