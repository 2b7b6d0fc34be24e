#include "device_scheduler.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

namespace nalasr::cli {
namespace {

using Clock = std::chrono::steady_clock;

// An item given to a device, and which devices have had it so far (itself included).
struct Assignment {
    std::size_t index = 0;
    std::vector<bool> tried;
    bool last_try = false;  // every device has now had it
};

// The shared queue: new items in index order, and items handed on by a device that could not hold them.
class WorkQueue {
public:
    WorkQueue(std::size_t count, std::size_t devices) : count_(count), devices_(devices) {}

    // The next item for `device`; nothing when there is no more work for it or a stop was asked for. Waits
    // while it has nothing to take but items in progress elsewhere may still be handed on to it.
    std::optional<Assignment> take(std::size_t device, const std::function<bool()>& should_stop) {
        std::unique_lock lock(mutex_);
        for (;;) {
            if (should_stop()) return std::nullopt;
            if (std::optional<Assignment> a = take_handed_on(device)) return start(device, std::move(*a));
            if (next_ < count_) return start(device, {next_++, std::vector<bool>(devices_, false)});
            if (in_progress_ == 0) return std::nullopt;
            changed_.wait(lock);
        }
    }

    void finish(Assignment a, bool hand_on) {
        {
            std::lock_guard lock(mutex_);
            --in_progress_;
            if (hand_on) handed_on_.push_back(std::move(a));
        }
        changed_.notify_all();
    }

private:
    // The lowest-numbered handed-on item this device has not tried.
    std::optional<Assignment> take_handed_on(std::size_t device) {
        auto best = handed_on_.end();
        for (auto it = handed_on_.begin(); it != handed_on_.end(); ++it)
            if (!it->tried[device] && (best == handed_on_.end() || it->index < best->index)) best = it;
        if (best == handed_on_.end()) return std::nullopt;
        Assignment a = std::move(*best);
        handed_on_.erase(best);
        return a;
    }

    Assignment start(std::size_t device, Assignment a) {
        a.tried[device] = true;
        a.last_try = std::all_of(a.tried.begin(), a.tried.end(), [](bool t) { return t; });
        ++in_progress_;
        return a;
    }

    const std::size_t count_, devices_;
    std::mutex mutex_;
    std::condition_variable changed_;
    std::size_t next_ = 0;         // the next new item
    std::size_t in_progress_ = 0;  // items some device is working on
    std::vector<Assignment> handed_on_;
};

// One device's thread: takes items until the queue has none left for it.
void serve(std::size_t d, ScheduledDevice& device, WorkQueue& queue, const std::function<bool()>& should_stop,
           DeviceShare* share) {
    while (std::optional<Assignment> a = queue.take(d, should_stop)) {
        const auto start = Clock::now();
        const ItemReport report = device.process(a->index, a->last_try);
        share->busy_seconds += std::chrono::duration<double>(Clock::now() - start).count();
        const bool hand_on = report.outcome == ItemOutcome::TooLarge && !a->last_try;
        switch (report.outcome) {
            case ItemOutcome::Processed:
                ++share->processed;
                share->megapixels += report.megapixels;
                break;
            case ItemOutcome::TooLarge: ++(hand_on ? share->handed_on : share->failed); break;
            case ItemOutcome::Failed: ++share->failed; break;
            case ItemOutcome::Cancelled:
            case ItemOutcome::Skipped: break;
        }
        queue.finish(std::move(*a), hand_on);
    }
}

}  // namespace

std::vector<DeviceShare> run_on_devices(std::size_t count, const std::vector<ScheduledDevice*>& devices,
                                        const std::function<bool()>& should_stop) {
    std::vector<DeviceShare> shares(devices.size());
    WorkQueue queue(count, devices.size());
    std::vector<std::thread> threads;
    for (std::size_t d = 0; d < devices.size(); ++d)
        threads.emplace_back(serve, d, std::ref(*devices[d]), std::ref(queue), std::cref(should_stop), &shares[d]);
    for (std::thread& t : threads) t.join();
    return shares;
}

}  // namespace nalasr::cli
