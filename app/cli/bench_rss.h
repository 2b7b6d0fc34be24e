// The host's own measurement of a run's memory: growth of the process's resident set (Linux /proc/self), an
// independent check of the engine's accounting (observed_peak_bytes is the CPU arena's high-water mark).
#pragma once

#include <cstddef>

namespace nalasr::cli {

class RssPeakMeter {
public:
    // Resets the kernel's peak-RSS mark (VmHWM, via /proc/self/clear_refs) and records the current RSS.
    // available() is false where that is not possible (not Linux, or /proc not writable).
    RssPeakMeter();
    bool available() const { return available_; }
    // Peak RSS since construction minus the RSS at construction, in bytes (0 when not available).
    std::size_t growth_bytes() const;

private:
    bool available_ = false;
    std::size_t start_rss_ = 0;
};

}  // namespace nalasr::cli
