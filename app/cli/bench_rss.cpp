#include "bench_rss.h"

#include <fstream>
#include <string>

namespace nalasr::cli {
namespace {

// A "Key:   1234 kB" line of /proc/self/status, in bytes; 0 when absent.
std::size_t status_bytes(const std::string& key) {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind(key, 0) == 0) return std::stoull(line.substr(key.size())) * 1024;
    return 0;
}

}  // namespace

RssPeakMeter::RssPeakMeter() {
    std::ofstream clear_refs("/proc/self/clear_refs");
    available_ = bool(clear_refs << "5" << std::flush);  // "5" resets VmHWM to the current RSS
    start_rss_ = status_bytes("VmRSS:");
    available_ = available_ && start_rss_ > 0;
}

std::size_t RssPeakMeter::growth_bytes() const {
    if (!available_) return 0;
    const std::size_t peak = status_bytes("VmHWM:");
    return peak > start_rss_ ? peak - start_rss_ : 0;
}

}  // namespace nalasr::cli
