// One point of `nalasr bench`: an input size on one engine (a backend and an attention kind). The point is run
// when the planner says it fits and the time estimate is within budget; otherwise the planner's figure is all
// it reports.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "bench_sizes.h"
#include "nalasr/engine.h"

namespace nalasr::cli {

enum class PointStatus {
    Measured,  // run: observed memory and times
    TooLarge,  // the planned peak exceeds the memory available (or the backend refused with OutOfMemory)
    Skipped,   // would fit, but the estimated time of one run exceeds the per-point budget
    Failed,    // the run returned an error (message), or was interrupted
};
const char* point_status_name(PointStatus status);  // "measured", "too_large", "skipped", "failed"

struct BenchPoint {
    std::string device;   // the --device entry: "cpu" or "cuda"
    std::string backend;  // the engine's name: "cpu", "cuda:0 (NVIDIA H100 80GB HBM3)"
    AttentionKind attention = AttentionKind::Nala;
    InputSize size;
    PointStatus status = PointStatus::Failed;
    std::size_t planned_peak_bytes = 0;     // the planner's prediction, for every point
    std::size_t available_bytes = 0;        // what the backend could use when the point started
    std::size_t observed_peak_bytes = 0;    // Measured: the largest over the runs
    std::size_t host_rss_growth_bytes = 0;  // Measured: growth of the process RSS in the first run (0: unknown)
    std::vector<double> run_seconds;        // Measured: each timed run, wall clock of run_network
    double median_seconds = 0;              // Measured: median of run_seconds
    double network_seconds = 0;             // Measured: median of the backend's "network" stage
    double estimated_seconds = 0;           // Skipped: the estimate that exceeded the budget
    std::string message;                    // TooLarge from the backend, Failed: its reason

    bool measured() const { return status == PointStatus::Measured; }
    // Observed when measured, else planned: the figure a comparison uses.
    std::size_t peak_bytes() const { return measured() ? observed_peak_bytes : planned_peak_bytes; }
    double megapixels_per_second() const;  // input pixels per second (0 unless measured)
};

struct MeasureSettings {
    int warmup = 1;            // untimed runs before the timed ones
    int repeats = 3;           // timed runs (fewer when the budget runs out, at least one)
    double max_seconds = 60;   // per point: skip it when one run is estimated longer; 0: no limit
    AbortFn should_abort;      // optional, polled by the engine (Ctrl-C)
};

// Seconds one run at `tokens` should take, from a measured point of the same engine: linear in tokens for the
// linear attentions, quadratic for softmax (its N×N scores dominate; at small N this over-estimates).
double estimate_run_seconds(const BenchPoint& previous, std::size_t tokens);

// Measures (or declines to measure) one size. `previous`: the last measured point of this engine, or null.
BenchPoint measure_point(const Engine& engine, const std::string& device, InputSize size,
                         const MeasureSettings& settings, const BenchPoint* previous);

}  // namespace nalasr::cli
