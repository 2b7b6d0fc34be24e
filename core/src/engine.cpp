// The Engine: sample conversion, alpha, statistics and progress around a Backend (backend.h).
#include "nalasr/engine.h"

#include <chrono>
#include <opencv2/imgproc.hpp>

#include "backend.h"
#include "cpu/host_memory.h"
#include "sample_convert.h"

namespace nalasr {

const char* backend_kind_name(BackendKind kind) {
    switch (kind) {
        case BackendKind::Auto: return "auto";
        case BackendKind::Cpu: return "cpu";
        case BackendKind::Cuda: return "cuda";
    }
    return "unknown";
}

bool parse_backend_kind(const std::string& name, BackendKind* out) {
    for (BackendKind kind : {BackendKind::Auto, BackendKind::Cpu, BackendKind::Cuda}) {
        if (name == backend_kind_name(kind)) {
            *out = kind;
            return true;
        }
    }
    return false;
}

std::string version_string() { return NALASR_VERSION; }

namespace {

// Inputs above this many pixels are refused outright (a 16384×16384 image; the planner refuses smaller
// ones that do not fit memory, with the size that would).
constexpr std::uint64_t kMaxInputPixels = std::uint64_t(1) << 28;

// Progress: upscale() reports one overall fraction; the network takes this share of it.
constexpr double kPrepareEnd = 0.02, kNetworkEnd = 0.95, kAlphaEnd = 0.97;

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

Status check_size(int width, int height, int scale) {
    if (width <= 0 || height <= 0)
        return {StatusCode::InvalidArgument,
                "the input is empty (" + std::to_string(width) + "x" + std::to_string(height) + ")"};
    if (std::uint64_t(width) * std::uint64_t(height) > kMaxInputPixels || std::uint64_t(width) * scale > INT32_MAX ||
        std::uint64_t(height) * scale > INT32_MAX)
        return {StatusCode::InvalidArgument, "the input " + std::to_string(width) + "x" + std::to_string(height) +
                                                 " is too large (the limit is " +
                                                 std::to_string(kMaxInputPixels >> 20) + " megapixels)"};
    return Status::ok();
}

class EngineImpl final : public Engine {
public:
    EngineImpl(const ModelConfig& config, std::unique_ptr<Backend> backend)
        : config_(config), backend_(std::move(backend)) {}

    // The public entry points turn a failed allocation anywhere below into OutOfMemory instead of an exception.
    Status upscale(const Image& in, Image* out, const UpscaleParams& params, UpscaleStats* stats) const override {
        try {
            return upscale_impl(in, out, params, stats);
        } catch (const std::bad_alloc&) {
            return {StatusCode::OutOfMemory, "out of host memory while upscaling a " + std::to_string(in.width) + "x" +
                                                 std::to_string(in.height) + " image"};
        }
    }

    Status run_network(const float* rgb, int width, int height, std::vector<float>* out, const UpscaleParams& params,
                       UpscaleStats* stats) const override {
        try {
            return run_network_impl(rgb, width, height, out, params, stats);
        } catch (const std::bad_alloc&) {
            return {StatusCode::OutOfMemory, "out of host memory while running the network"};
        }
    }

    std::size_t predict_peak_bytes(int width, int height) const override {
        return backend_->predict_peak_bytes(width, height);
    }
    std::size_t available_bytes() const override { return backend_->available_bytes(); }
    std::string backend_name() const override { return backend_->name(); }
    const ModelConfig& config() const override { return config_; }

private:
    Status upscale_impl(const Image& in, Image* out, const UpscaleParams& params, UpscaleStats* stats) const {
        const auto start = Clock::now();
        if (!out) return {StatusCode::InvalidArgument, "no output image given"};
        if (Status st = check_image(in); !st) return st;
        if (Status st = check_size(in.width, in.height, config_.scale); !st) return st;
        UpscaleStats local;
        local.backend = backend_->name();
        local.tokens = std::size_t(in.width) * in.height;
        auto report = [&](double fraction, const char* stage) {
            if (params.progress) params.progress(fraction, stage);
        };
        auto aborted = [&] { return params.should_abort && params.should_abort(); };

        // Backends that convert samples themselves (CUDA, for 8- and 16-bit images) take the image as it is;
        // for the others the colour is converted to float RGB here and back after the network.
        const bool backend_converts = backend_->converts_samples(in.type);
        auto t = Clock::now();
        report(0.0, "prepare");
        const std::vector<float> rgb = backend_converts ? std::vector<float>() : colour_to_rgb(in);
        const std::vector<float> alpha = alpha_plane(in);
        local.stages.push_back({"prepare", ms_since(t)});
        report(kPrepareEnd, "prepare");
        if (aborted()) return {StatusCode::Cancelled, "cancelled"};

        Image result;
        std::vector<float> upscaled;
        auto forward = [&](const ForwardControl& control, ForwardStats* forward_stats) {
            if (backend_converts) return backend_->forward_samples(in, &result, control, forward_stats);
            return backend_->forward(rgb.data(), in.width, in.height, &upscaled, control, forward_stats);
        };
        if (Status st = run_backend(forward, params, kPrepareEnd, kNetworkEnd, &local); !st) return st;
        if (aborted()) return {StatusCode::Cancelled, "cancelled"};

        const int s = config_.scale, out_w = in.width * s, out_h = in.height * s;
        std::vector<float> out_alpha;
        if (!alpha.empty()) {
            t = Clock::now();
            report(kNetworkEnd, "alpha");
            // Alpha is not content the network knows; bicubic keeps edges smooth (clamped: cubic overshoots).
            const cv::Mat src(in.height, in.width, CV_32F, const_cast<float*>(alpha.data()));
            cv::Mat dst;
            cv::resize(src, dst, cv::Size(out_w, out_h), 0, 0, cv::INTER_CUBIC);
            out_alpha.assign(dst.ptr<float>(), dst.ptr<float>() + std::size_t(out_w) * out_h);
            for (float& a : out_alpha) a = std::clamp(a, 0.0f, 1.0f);
            local.stages.push_back({"alpha", ms_since(t)});
        }

        t = Clock::now();
        report(kAlphaEnd, "convert");
        if (backend_converts) {
            if (!out_alpha.empty()) write_alpha(out_alpha, &result);
        } else {
            rgb_to_image(upscaled, out_alpha, out_w, out_h, in.channels, in.type, &result);
        }
        result.icc_profile = in.icc_profile;
        result.exif = in.exif;
        *out = std::move(result);
        local.stages.push_back({"convert", ms_since(t)});
        report(1.0, "convert");

        local.total_ms = ms_since(start);
        local.peak_host_rss_bytes = cpu::peak_rss_bytes();
        if (stats) *stats = std::move(local);
        return Status::ok();
    }

    Status run_network_impl(const float* rgb, int width, int height, std::vector<float>* out,
                            const UpscaleParams& params, UpscaleStats* stats) const {
        const auto start = Clock::now();
        if (!rgb || !out) return {StatusCode::InvalidArgument, "run_network: null input or output"};
        if (Status st = check_size(width, height, config_.scale); !st) return st;
        UpscaleStats local;
        local.backend = backend_->name();
        local.tokens = std::size_t(width) * height;
        auto forward = [&](const ForwardControl& control, ForwardStats* forward_stats) {
            return backend_->forward(rgb, width, height, out, control, forward_stats);
        };
        if (Status st = run_backend(forward, params, 0.0, 1.0, &local); !st) return st;
        local.total_ms = ms_since(start);
        local.peak_host_rss_bytes = cpu::peak_rss_bytes();
        if (stats) *stats = std::move(local);
        return Status::ok();
    }

    // Runs `forward(control, stats)` (a forward pass of the backend), mapping its progress onto [begin, end] of
    // the overall fraction.
    template <typename Forward>
    Status run_backend(Forward forward, const UpscaleParams& params, double begin, double end,
                       UpscaleStats* stats) const {
        ForwardControl control;
        if (params.progress)
            control.report = [&](double f) { params.progress(begin + (end - begin) * f, "network"); };
        if (params.should_abort) control.cancelled = params.should_abort;
        ForwardStats forward_stats;
        if (Status st = forward(control, &forward_stats); !st) return st;
        stats->planned_peak_bytes = forward_stats.planned_peak_bytes;
        stats->observed_peak_bytes = forward_stats.observed_peak_bytes;
        stats->stages.insert(stats->stages.end(), forward_stats.stages.begin(), forward_stats.stages.end());
        return Status::ok();
    }

    ModelConfig config_;
    std::unique_ptr<Backend> backend_;
};

}  // namespace

namespace {

Status create_backend(const Model& model, const EngineParams& params, std::unique_ptr<Backend>* backend) {
    switch (params.backend) {
        case BackendKind::Cpu: return create_cpu_backend(model, params.cpu_threads, backend);
        case BackendKind::Cuda: return create_cuda_backend(model, params.gpu_index, backend);
        case BackendKind::Auto:
            // CUDA when it comes up; any CUDA failure (no build, no driver, no GPU) falls back to the CPU.
            if (create_cuda_backend(model, params.gpu_index, backend)) return Status::ok();
            backend->reset();
            return create_cpu_backend(model, params.cpu_threads, backend);
    }
    return {StatusCode::InvalidArgument, "unknown backend kind"};
}

}  // namespace

Status Engine::create(const Model& model, const EngineParams& params, std::unique_ptr<Engine>* out) {
    if (!out) return {StatusCode::InvalidArgument, "Engine::create: no output pointer"};
    if (params.cpu_threads < 0) return {StatusCode::InvalidArgument, "cpu_threads must be 0 (all cores) or positive"};
    std::unique_ptr<Backend> backend;
    try {
        if (Status st = create_backend(model, params, &backend); !st) return st;
    } catch (const std::bad_alloc&) {
        return {StatusCode::OutOfMemory, "out of host memory while preparing the model's weights"};
    }
    *out = std::make_unique<EngineImpl>(model.config(), std::move(backend));
    return Status::ok();
}

}  // namespace nalasr
