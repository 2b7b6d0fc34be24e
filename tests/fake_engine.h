// A fake Engine for the batch tests: upscales ×2 by pixel repetition after `delay` (`slow_delay` for images
// `slow_width` wide), and answers OutOfMemory for images wider than `max_width`, as the CUDA backend does when
// the planner finds its device too small. Thread-safe; counts its calls.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "nalasr/engine.h"

namespace nalasr::test {

class FakeEngine : public Engine {
public:
    FakeEngine(std::string name, int max_width, std::chrono::milliseconds delay = std::chrono::milliseconds(0))
        : name_(std::move(name)), max_width_(max_width), delay_(delay) {
        config_.scale = 2;
    }
    int slow_width = -1;
    std::chrono::milliseconds slow_delay{0};
    mutable std::atomic<int> calls{0};

    Status upscale(const Image& in, Image* out, const UpscaleParams& params, UpscaleStats* stats) const override {
        ++calls;
        if (in.width > max_width_)
            return {StatusCode::OutOfMemory, "needs 9.0 GiB of GPU memory, 7.5 GiB free; largest input that fits ≈ 1 MP"};
        std::this_thread::sleep_for(in.width == slow_width ? slow_delay : delay_);
        if (params.should_abort && params.should_abort()) return {StatusCode::Cancelled, "cancelled"};
        if (params.progress) params.progress(1.0, "network");
        out->allocate(in.width * 2, in.height * 2, in.channels, in.type);
        const std::size_t px = std::size_t(in.channels) * sample_size(in.type);
        for (int y = 0; y < out->height; ++y)
            for (int x = 0; x < out->width; ++x)
                std::copy_n(&in.pixels[(std::size_t(y / 2) * in.width + x / 2) * px], px,
                            &out->pixels[(std::size_t(y) * out->width + x) * px]);
        stats->backend = name_;
        stats->tokens = std::size_t(in.width) * in.height;
        return Status::ok();
    }
    Status run_network(const float*, int, int, std::vector<float>*, const UpscaleParams&,
                       UpscaleStats*) const override {
        return {StatusCode::Internal, "not scripted"};
    }
    std::size_t predict_peak_bytes(int width, int height) const override { return std::size_t(width) * height * 1000; }
    std::size_t available_bytes() const override { return std::size_t(1) << 30; }
    std::string backend_name() const override { return name_; }
    const ModelConfig& config() const override { return config_; }

private:
    std::string name_;
    int max_width_;
    std::chrono::milliseconds delay_;
    ModelConfig config_;
};

}  // namespace nalasr::test
