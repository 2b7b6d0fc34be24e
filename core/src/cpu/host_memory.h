// Host memory figures for the CPU backend's "does it fit" check.
#pragma once

#include <cstddef>

namespace nalasr::cpu {

// MemAvailable from /proc/meminfo in bytes (what the kernel says can be allocated without swapping);
// 0 when it cannot be read.
std::size_t host_available_bytes();

// The process's peak resident set size so far (getrusage), in bytes.
std::size_t peak_rss_bytes();

}  // namespace nalasr::cpu
