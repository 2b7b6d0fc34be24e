#include "memory_plan.h"

#include <algorithm>
#include <functional>
#include <numeric>

namespace nalasr {

namespace {

// Places buffers in the given order, each at the lowest offset not used by an already placed buffer that is
// live at the same time. Returns the offsets and the arena size.
MemoryPlan place_in_order(const std::vector<BufferLifetime>& buffers, const std::vector<std::size_t>& order) {
    MemoryPlan plan;
    plan.offsets.assign(buffers.size(), 0);
    auto overlap_in_time = [&](std::size_t a, std::size_t b) {
        return buffers[a].first_step <= buffers[b].last_step && buffers[b].first_step <= buffers[a].last_step;
    };
    std::vector<std::size_t> placed;
    std::vector<std::pair<std::size_t, std::size_t>> taken;  // [begin, end) of placed buffers live at the same time
    for (std::size_t i : order) {
        const std::size_t size = aligned_size(buffers[i].bytes);
        taken.clear();
        for (std::size_t j : placed)
            if (overlap_in_time(i, j)) taken.emplace_back(plan.offsets[j], plan.offsets[j] + aligned_size(buffers[j].bytes));
        std::sort(taken.begin(), taken.end());
        std::size_t offset = 0;  // lowest gap that fits
        for (const auto& [begin, end] : taken) {
            if (begin >= offset + size) break;
            offset = std::max(offset, end);
        }
        plan.offsets[i] = offset;
        plan.arena_bytes = std::max(plan.arena_bytes, offset + size);
        placed.push_back(i);
    }
    return plan;
}

}  // namespace

MemoryPlan plan_memory(const std::vector<BufferLifetime>& buffers) {
    auto length = [&](std::size_t i) { return std::size_t(buffers[i].last_step - buffers[i].first_step + 1); };
    auto size = [&](std::size_t i) { return aligned_size(buffers[i].bytes); };
    using Less = std::function<bool(std::size_t, std::size_t)>;
    const Less orders[] = {
        [&](std::size_t a, std::size_t b) { return size(a) > size(b); },
        [&](std::size_t a, std::size_t b) { return std::pair(length(a), size(a)) > std::pair(length(b), size(b)); },
        [&](std::size_t a, std::size_t b) { return size(a) * length(a) > size(b) * length(b); },
    };
    MemoryPlan plan;
    for (const Less& less : orders) {
        std::vector<std::size_t> order(buffers.size());
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(), less);
        MemoryPlan candidate = place_in_order(buffers, order);
        if (plan.offsets.empty() || candidate.arena_bytes < plan.arena_bytes) plan = std::move(candidate);
    }

    int steps = 0;
    for (const auto& b : buffers) steps = std::max(steps, b.last_step + 1);
    std::vector<std::size_t> live(std::size_t(steps), 0);
    for (const auto& b : buffers)
        for (int s = b.first_step; s <= b.last_step; ++s) live[std::size_t(s)] += aligned_size(b.bytes);
    for (std::size_t bytes : live) plan.peak_live_bytes = std::max(plan.peak_live_bytes, bytes);
    return plan;
}

}  // namespace nalasr
