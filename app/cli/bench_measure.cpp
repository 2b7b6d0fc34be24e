#include "bench_measure.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <random>

#include "bench_rss.h"

namespace nalasr::cli {
namespace {

double median(std::vector<double> values) {
    if (values.empty()) return 0;
    std::sort(values.begin(), values.end());
    const std::size_t mid = values.size() / 2;
    return values.size() % 2 ? values[mid] : 0.5 * (values[mid - 1] + values[mid]);
}

double stage_seconds(const UpscaleStats& stats, const std::string& stage) {
    for (const StageTime& t : stats.stages)
        if (t.stage == stage) return t.ms / 1000;
    return 0;
}

// A deterministic image in [0, 1] (the network's cost does not depend on the content).
std::vector<float> random_rgb(InputSize size) {
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
    std::vector<float> rgb(size.tokens() * 3);
    for (float& v : rgb) v = uniform(rng);
    return rgb;
}

}  // namespace

const char* point_status_name(PointStatus status) {
    switch (status) {
        case PointStatus::Measured: return "measured";
        case PointStatus::TooLarge: return "too_large";
        case PointStatus::Skipped: return "skipped";
        case PointStatus::Failed: return "failed";
    }
    return "unknown";
}

double BenchPoint::megapixels_per_second() const {
    return measured() && median_seconds > 0 ? double(size.tokens()) / median_seconds / 1e6 : 0;
}

double estimate_run_seconds(const BenchPoint& previous, std::size_t tokens) {
    const double ratio = double(tokens) / double(previous.size.tokens());
    return previous.median_seconds * (previous.attention == AttentionKind::Softmax ? ratio * ratio : ratio);
}

BenchPoint measure_point(const Engine& engine, const std::string& device, InputSize size,
                         const MeasureSettings& settings, const BenchPoint* previous) {
    BenchPoint point;
    point.device = device;
    point.backend = engine.backend_name();
    point.attention = engine.config().attention;
    point.size = size;
    point.planned_peak_bytes = engine.predict_peak_bytes(size.width, size.height);
    point.available_bytes = engine.available_bytes();
    if (point.available_bytes != 0 && point.planned_peak_bytes > point.available_bytes) {
        point.status = PointStatus::TooLarge;
        return point;
    }
    if (previous && settings.max_seconds > 0) {
        point.estimated_seconds = estimate_run_seconds(*previous, size.tokens());
        if (point.estimated_seconds > settings.max_seconds) {
            point.status = PointStatus::Skipped;
            return point;
        }
    }

    const std::vector<float> rgb = random_rgb(size);
    UpscaleParams params;
    params.should_abort = settings.should_abort;
    std::vector<double> network_seconds;
    double timed_total = 0;
    const int runs = std::max(settings.warmup, 0) + std::max(settings.repeats, 1);
    std::vector<float> out;  // reused, as a batch would: later runs do not pay for faulting in the output pages
    for (int run = 0; run < runs; ++run) {
        // The first run allocates afresh (later ones reuse memory), so it is the one the RSS check watches.
        std::optional<RssPeakMeter> meter;
        if (run == 0) meter.emplace();
        UpscaleStats stats;
        const auto start = std::chrono::steady_clock::now();
        const Status st = engine.run_network(rgb.data(), size.width, size.height, &out, params, &stats);
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (!st) {
            point.status = st.code() == StatusCode::OutOfMemory ? PointStatus::TooLarge : PointStatus::Failed;
            point.message = st.code() == StatusCode::Cancelled ? "interrupted" : st.message();
            return point;
        }
        if (meter) point.host_rss_growth_bytes = meter->growth_bytes();
        point.observed_peak_bytes = std::max(point.observed_peak_bytes, stats.observed_peak_bytes);
        if (run < settings.warmup) continue;
        point.run_seconds.push_back(seconds);
        network_seconds.push_back(stage_seconds(stats, "network"));
        timed_total += seconds;
        if (settings.max_seconds > 0 && timed_total >= settings.max_seconds) break;  // at least one timed run
    }
    point.status = PointStatus::Measured;
    point.median_seconds = median(point.run_seconds);
    point.network_seconds = median(network_seconds);
    return point;
}

}  // namespace nalasr::cli
