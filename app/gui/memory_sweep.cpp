#include "memory_sweep.h"

#include <cmath>
#include <cstdint>

namespace nalasr::gui {
namespace {

// 16384² = 268 MP; also keeps softmax's N² estimates far from overflowing size_t.
constexpr int kMaxSearchSide = 1 << 14;

// A deterministic noise image, so measured runs do not depend on any file.
Image noise_image(int side) {
    Image image;
    image.allocate(side, side, 3, SampleType::U8);
    std::uint32_t state = 12345;
    for (std::uint8_t& sample : image.pixels) {
        state = state * 1664525u + 1013904223u;
        sample = std::uint8_t(state >> 24);
    }
    return image;
}

int largest_side_that_fits(const Engine& engine, std::size_t budget) {
    if (engine.predict_peak_bytes(1, 1) > budget) return 0;
    int lo = 1, hi = kMaxSearchSide;  // predict(lo) fits; find the last side that fits
    if (engine.predict_peak_bytes(hi, hi) <= budget) return hi;
    while (hi - lo > 1) {
        const int mid = lo + (hi - lo) / 2;
        (engine.predict_peak_bytes(mid, mid) <= budget ? lo : hi) = mid;
    }
    return lo;
}

}  // namespace

std::vector<int> default_sweep_sides() {
    std::vector<int> sides;
    for (double side = 16; side <= 8192.5; side *= std::sqrt(2.0)) sides.push_back(int(std::lround(side)));
    return sides;
}

Status sweep_memory(const ModelConfig& base, const MemorySweepOptions& options, MemorySweep* out) {
    MemorySweep sweep;
    for (AttentionKind kind : {AttentionKind::Nala, AttentionKind::Pola, AttentionKind::Softmax}) {
        ModelConfig config = base;
        config.attention = kind;
        if (Status st = config.validate(); !st) return st;
        std::unique_ptr<Engine> engine;
        if (Status st = Engine::create(Model::random(config, 1), options.engine, &engine); !st) return st;
        sweep.available_bytes = engine->available_bytes();
        sweep.backend = engine->backend_name();

        MemoryCurve curve;
        curve.kind = kind;
        for (int side : options.sides)
            curve.predicted.push_back({std::size_t(side) * side, engine->predict_peak_bytes(side, side)});
        curve.largest_side_that_fits = largest_side_that_fits(*engine, sweep.available_bytes);
        for (int side : options.sides) {
            if (side > options.measure_up_to_side) break;
            if (options.should_abort && options.should_abort()) return {StatusCode::Cancelled, "memory sweep cancelled"};
            Image upscaled;
            UpscaleStats stats;
            UpscaleParams params;
            params.should_abort = options.should_abort;
            if (Status st = engine->upscale(noise_image(side), &upscaled, params, &stats); !st) return st;
            curve.measured.push_back({stats.tokens, stats.observed_peak_bytes});
        }
        sweep.curves.push_back(std::move(curve));
    }
    *out = std::move(sweep);
    return Status::ok();
}

}  // namespace nalasr::gui
