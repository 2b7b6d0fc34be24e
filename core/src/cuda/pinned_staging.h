// Page-locked (pinned) host buffers for the CUDA backend's image transfers. Copies from and to pinned memory run
// at the bus's full rate and truly asynchronously; allocating pinned memory is slow (milliseconds), so buffers
// are kept and reused: a buffer grows when a call needs more and is never freed before the pool.
//
// The pool has two slots, so that one call can copy its result out of its buffer on the host while the next
// call's transfers use the other; a third caller waits for a slot. Transfers larger than kMaxBytes (or when
// pinned memory cannot be had) get no buffer and go straight from/to pageable memory, so the pool never holds
// more than 2 · kMaxBytes.
//
// Allocating and freeing pinned memory synchronises with the device, which would invalidate a CUDA graph being
// captured by another thread on the same GPU; so buffers grow only while holding `device_mutex`, the lock under
// which the backend captures and runs its graphs.
#pragma once

#include <array>
#include <condition_variable>
#include <cstddef>
#include <mutex>

namespace nalasr::cuda {

class StagingPool {
public:
    // 64 MiB: a 3840×2160 output in 16-bit RGB(A) fits (50-66 MB).
    static constexpr std::size_t kMaxBytes = std::size_t(64) << 20;

    // A slot held by one call; gives it back when destroyed.
    class Lease {
    public:
        Lease() = default;
        Lease(Lease&& o) noexcept;
        Lease& operator=(Lease&& o) noexcept;
        Lease(const Lease&) = delete;
        Lease& operator=(const Lease&) = delete;
        ~Lease() { release(); }

        // The pinned buffer of at least the requested size, or nullptr: transfer from/to pageable memory.
        std::byte* data() const { return data_; }

    private:
        friend class StagingPool;
        void release();
        StagingPool* pool_ = nullptr;
        int slot_ = -1;
        std::byte* data_ = nullptr;
    };

    StagingPool(int device, std::mutex& device_mutex) : device_(device), device_mutex_(device_mutex) {}
    ~StagingPool();
    StagingPool(const StagingPool&) = delete;
    StagingPool& operator=(const StagingPool&) = delete;

    // A buffer of `bytes` for the caller's transfers (waits while both slots are taken). Never fails: without
    // pinned memory the lease simply has no buffer.
    Lease acquire(std::size_t bytes);

private:
    struct Slot {
        std::byte* data = nullptr;
        std::size_t bytes = 0;
        bool taken = false;
    };

    void give_back(int slot);

    const int device_;
    std::mutex& device_mutex_;
    std::mutex mutex_;  // guards the slots' `taken` flags
    std::condition_variable freed_;
    std::array<Slot, 2> slots_{};
};

}  // namespace nalasr::cuda
