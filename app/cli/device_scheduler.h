// Shares a batch's items (files) between devices (GPUs) by dynamic scheduling: every device has its own thread,
// which takes the next item as soon as it is free, so a faster device takes more items and mixed image sizes
// balance out. An item too large for one device's memory moves on to a device that has not tried it yet; only
// the last device to try it reports it as failed. The scheduler knows nothing of images or engines: a device is
// anything that can process item number i (batch_runner.cpp wraps an Engine; the tests use fake devices).
#pragma once

#include <cstddef>
#include <functional>
#include <vector>

namespace nalasr::cli {

enum class ItemOutcome {
    Processed,  // the device ran the item
    Failed,     // the item failed for a reason no other device would change (bad file, write error, ...)
    Cancelled,  // the stop request cancelled it while it ran
    Skipped,    // nothing for the device to do: the output exists already, or the file could not be read
    TooLarge,   // it does not fit this device's memory: offer it to another device
};

struct ItemReport {
    ItemOutcome outcome = ItemOutcome::Processed;
    double megapixels = 0;  // input size, counted in the device's share when Processed
};

class ScheduledDevice {
public:
    virtual ~ScheduledDevice() = default;
    // Works on item `index`; called on this device's own thread, one item at a time. `last_try`: no other
    // device will get this item after this one, so the device reports a failure itself (a TooLarge outcome is
    // then counted as Failed).
    virtual ItemReport process(std::size_t index, bool last_try) = 0;
};

// What one device did in a run.
struct DeviceShare {
    int processed = 0;        // items it ran
    int failed = 0;           // items that failed on it (not counting files that could not be read)
    int handed_on = 0;        // items too large for it, passed to another device
    double megapixels = 0;    // input megapixels of the items it ran
    double busy_seconds = 0;  // time spent in process()
};

// Runs items 0 .. count-1 on the devices, in index order as far as free devices allow (items handed on go
// before new ones). Once `should_stop` returns true no item is started; the call returns when the items in
// progress are done. Returns one share per device, in the devices' order.
std::vector<DeviceShare> run_on_devices(std::size_t count, const std::vector<ScheduledDevice*>& devices,
                                        const std::function<bool()>& should_stop);

}  // namespace nalasr::cli
