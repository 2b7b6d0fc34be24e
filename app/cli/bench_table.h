// The terminal output of `nalasr bench`: one row per point as it is measured, the memory reductions, and the
// largest squares of --max.
#pragma once

#include <string>
#include <vector>

#include "bench_max.h"
#include "bench_measure.h"
#include "bench_results.h"

namespace nalasr::cli {

std::string thousands(std::size_t value);  // 70225 → "70,225"

void print_point_header();
void print_point(const BenchPoint& point);
// The reduction per size, then the line for the 70K-token claim.
void print_reductions(const std::vector<MemoryReduction>& reductions);
void print_largest_square(const LargestSquare& result);

}  // namespace nalasr::cli
