// An owned device allocation (cudaMalloc / cudaFree), movable, never copied.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <utility>

#include "cuda/cuda_check.h"

namespace nalasr::cuda {

class DeviceBuffer {
public:
    DeviceBuffer() = default;
    DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(std::exchange(o.ptr_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}
    DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
        if (this != &o) {
            reset();
            ptr_ = std::exchange(o.ptr_, nullptr);
            bytes_ = std::exchange(o.bytes_, 0);
        }
        return *this;
    }
    ~DeviceBuffer() { reset(); }

    // Frees what it held, then allocates `bytes` (nothing for 0). OutOfMemory when cudaMalloc fails.
    Status allocate(std::size_t bytes) {
        reset();
        if (bytes == 0) return Status::ok();
        void* p = nullptr;
        NALASR_CUDA_CHECK(cudaMalloc(&p, bytes));
        ptr_ = p;
        bytes_ = bytes;
        return Status::ok();
    }
    void reset() {
        if (ptr_) cudaFree(ptr_);
        ptr_ = nullptr;
        bytes_ = 0;
    }

    std::byte* data() const { return static_cast<std::byte*>(ptr_); }
    std::size_t bytes() const { return bytes_; }

private:
    void* ptr_ = nullptr;
    std::size_t bytes_ = 0;
};

}  // namespace nalasr::cuda
