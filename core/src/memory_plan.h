// The activation memory planner: given each buffer's size and the steps during which it is live, assign offsets
// in one arena so that buffers live at the same time never overlap. Greedy: buffers are placed one by one, each at
// the lowest offset free for its whole lifetime; the planner tries a few placement orders (largest first, the
// usual plan of inference runtimes; longest-lived first; size × lifetime) and keeps the smallest arena.
#pragma once

#include <cstddef>
#include <vector>

namespace nalasr {

struct BufferLifetime {
    std::size_t bytes = 0;
    int first_step = 0;  // live from the start of this step...
    int last_step = 0;   // ...to the end of this one (inclusive)
};

struct MemoryPlan {
    std::vector<std::size_t> offsets;  // per buffer, in bytes from the arena's start (multiples of kAlignment)
    std::size_t arena_bytes = 0;       // the arena size the offsets need
    std::size_t peak_live_bytes = 0;   // max over steps of the bytes live at once (a lower bound of arena_bytes)
};

constexpr std::size_t kArenaAlignment = 64;

// Rounds a buffer size up to the arena alignment (sizes in plans and in live-byte accounting are rounded).
inline std::size_t aligned_size(std::size_t bytes) {
    return (bytes + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment;
}

MemoryPlan plan_memory(const std::vector<BufferLifetime>& buffers);

}  // namespace nalasr
