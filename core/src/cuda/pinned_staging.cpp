#include "cuda/pinned_staging.h"

#include <cuda_runtime.h>

#include <utility>

namespace nalasr::cuda {

StagingPool::Lease::Lease(Lease&& o) noexcept
    : pool_(std::exchange(o.pool_, nullptr)), slot_(std::exchange(o.slot_, -1)), data_(std::exchange(o.data_, nullptr)) {}

StagingPool::Lease& StagingPool::Lease::operator=(Lease&& o) noexcept {
    if (this != &o) {
        release();
        pool_ = std::exchange(o.pool_, nullptr);
        slot_ = std::exchange(o.slot_, -1);
        data_ = std::exchange(o.data_, nullptr);
    }
    return *this;
}

void StagingPool::Lease::release() {
    if (pool_) pool_->give_back(slot_);
    pool_ = nullptr, slot_ = -1, data_ = nullptr;
}

StagingPool::~StagingPool() {
    for (Slot& s : slots_)
        if (s.data) cudaFreeHost(s.data);
}

StagingPool::Lease StagingPool::acquire(std::size_t bytes) {
    if (bytes == 0 || bytes > kMaxBytes) return {};
    int index = -1;
    {
        std::unique_lock<std::mutex> lock(mutex_);
        freed_.wait(lock, [&] { return !slots_[0].taken || !slots_[1].taken; });
        // A free slot that is already large enough, else any free one (which will grow).
        for (int i = 0; i < int(slots_.size()); ++i)
            if (!slots_[i].taken && (index < 0 || slots_[i].bytes >= bytes)) index = i;
        slots_[index].taken = true;
    }
    // The slot is ours: grow it outside the pool's lock, under the device's (see the header).
    Slot& slot = slots_[std::size_t(index)];
    if (slot.bytes < bytes) {
        std::lock_guard<std::mutex> device_lock(device_mutex_);
        if (slot.data) cudaFreeHost(slot.data);
        slot.data = nullptr, slot.bytes = 0;
        void* p = nullptr;
        if (cudaSetDevice(device_) == cudaSuccess && cudaHostAlloc(&p, bytes, cudaHostAllocPortable) == cudaSuccess) {
            slot.data = static_cast<std::byte*>(p), slot.bytes = bytes;
        } else {
            cudaGetLastError();  // no pinned memory: the caller transfers from pageable memory instead
        }
    }
    if (!slot.data) {
        give_back(index);
        return {};
    }
    Lease lease;
    lease.pool_ = this, lease.slot_ = index, lease.data_ = slot.data;
    return lease;
}

void StagingPool::give_back(int slot) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        slots_[std::size_t(slot)].taken = false;
    }
    freed_.notify_one();
}

}  // namespace nalasr::cuda
