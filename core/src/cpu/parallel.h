// When the CPU ops go parallel. An OpenMP region costs microseconds to start, and far more when the cores are
// shared with other processes (a thread that is not running holds up the region's barrier), so loops with less
// work than this run on the calling thread: small images never pay for threads they cannot use.
#pragma once

#include <cstddef>

namespace nalasr::cpu {

// Roughly the number of multiply-adds (or element operations) below which a loop stays serial.
constexpr std::size_t kParallelMinWork = std::size_t(1) << 16;

}  // namespace nalasr::cpu
