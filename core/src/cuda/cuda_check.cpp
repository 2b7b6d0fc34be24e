#include "cuda/cuda_check.h"

#include <string>

namespace nalasr::cuda {

Status gpu_call_failed(const char* statement, const char* function, const char* file, int line,
                       const char* error_text, bool out_of_memory) {
    int device = -1;
    cudaGetDevice(&device);
    cudaGetLastError();  // a failed launch leaves its error pending; clear it so the next check sees its own
    std::string message = std::string("CUDA error '") + error_text + "' in " + statement + " (" + function + ", " +
                          file + ":" + std::to_string(line) + ", device " + std::to_string(device) + ")";
    return {out_of_memory ? StatusCode::OutOfMemory : StatusCode::Internal, std::move(message)};
}

}  // namespace nalasr::cuda
