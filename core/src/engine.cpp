// The Engine: sample conversion, keeping the input's colours, alpha, statistics and progress around a Backend
// (backend.h).
#include "nalasr/engine.h"

#include <chrono>
#include <cmath>
#include <memory>
#include <mutex>
#include <opencv2/imgproc.hpp>

#include "backend.h"
#include "bicubic_unit.h"
#include "cpu/host_memory.h"
#include "engine_internal.h"
#include "keep_colours.h"
#include "sample_convert.h"
#include "tta.h"

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

// The output check (docs/robustness.md). An output is black when every value is below half an 8-bit step (every
// sample would be written as 0 at 8 bits); that counts against it only when some colour value of the input is at
// least one 8-bit step.
constexpr float kBlackOutput = 0.5f / 255.0f, kVisibleInput = 1.0f / 255.0f;

// What the check found in one output.
struct OutputCheck {
    std::size_t non_finite = 0;  // NaN and ±Inf values
    float max = 0.0f;            // the largest finite value, 0 when none is positive
    bool black() const { return max < kBlackOutput; }
};

// The host check of a float output (backends that do not check their own).
OutputCheck check_floats(const std::vector<float>& values) {
    OutputCheck check;
    for (float v : values) {
        if (!std::isfinite(v)) ++check.non_finite;
        else if (v > check.max) check.max = v;
    }
    return check;
}

// The largest of values[0, n), 0 when none is positive.
float max_value(const float* values, std::size_t n) {
    float max = 0.0f;
    for (std::size_t i = 0; i < n; ++i)
        if (values[i] > max) max = values[i];  // NaN compares false
    return max;
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
    EngineImpl(const ModelConfig& config, std::unique_ptr<Backend> backend, BackendFactory float32_backend)
        : config_(config), backend_(std::move(backend)),
          float32_factory_(backend_->reduced_precision() ? std::move(float32_backend) : BackendFactory()) {}

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
    std::size_t predict_upscale_peak_bytes(int width, int height, const UpscaleParams& params) const override {
        const std::size_t peak = Engine::predict_upscale_peak_bytes(width, height, params);
        return params.tta && backend_->runs_tta() ? peak + tta_buffer_bytes(width, height, config_.scale) : peak;
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

        // Backends that convert samples themselves (CUDA, for 8- and 16-bit images) take the image as it is;
        // for the others the colour is converted to float RGB here and back after the network. Keeping the
        // input's colours works on float RGB here, and so does TTA on a backend that does not run it itself.
        const bool keep_colours = params.keep_input_colours && in.channels >= 3;  // grey stays grey anyway
        bool backend_converts = !keep_colours && (!params.tta || backend_->runs_tta()) &&
                                backend_->converts_samples(in.type);
        auto t = Clock::now();
        report(0.0, "prepare");
        std::vector<float> rgb = backend_converts ? std::vector<float>() : colour_to_rgb(in);
        const std::vector<float> alpha = alpha_plane(in);
        local.stages.push_back({"prepare", ms_since(t)});
        report(kPrepareEnd, "prepare");
        if (cancelled(params)) return {StatusCode::Cancelled, "cancelled"};

        Image result;
        std::vector<float> upscaled;
        const Status network_status =
            backend_converts ? network_on_samples(in, &result, &upscaled, &backend_converts, params, &local)
                             : network(rgb.data(), in.width, in.height, &upscaled, params, kPrepareEnd, kNetworkEnd,
                                       &local);
        if (!network_status) return network_status;
        if (cancelled(params)) return {StatusCode::Cancelled, "cancelled"};

        const int s = config_.scale, out_w = in.width * s, out_h = in.height * s;
        if (keep_colours) {
            t = Clock::now();
            report(kNetworkEnd, "keep colours");
            keep_input_colours(rgb, in.width, in.height, &upscaled, out_w, out_h);  // float path: rgb is there
            local.stages.push_back({"keep colours", ms_since(t)});
            if (cancelled(params)) return {StatusCode::Cancelled, "cancelled"};
        }

        std::vector<float> out_alpha;
        if (!alpha.empty()) {
            t = Clock::now();
            report(kNetworkEnd, "alpha");
            // Alpha is not content the network knows; bicubic keeps edges smooth.
            const cv::Mat src(in.height, in.width, CV_32F, const_cast<float*>(alpha.data()));
            const cv::Mat dst = upscale_bicubic_unit(src, cv::Size(out_w, out_h));
            out_alpha.assign(dst.ptr<float>(), dst.ptr<float>() + std::size_t(out_w) * out_h);
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
        if (Status st = network(rgb, width, height, out, params, 0.0, 1.0, &local); !st) return st;
        local.total_ms = ms_since(start);
        local.peak_host_rss_bytes = cpu::peak_rss_bytes();
        if (stats) *stats = std::move(local);
        return Status::ok();
    }

    // The network on float RGB → `out`, its progress mapped onto [begin, end]: one pass, or with params.tta the mean
    // of the 8 TTA passes (tta.h), whose memory is checked first: one call of a backend that runs TTA itself, else
    // 8 passes around which the host turns and averages the images.
    Status network(const float* rgb, int width, int height, std::vector<float>* out, const UpscaleParams& params,
                   double begin, double end, UpscaleStats* stats) const {
        if (!params.tta) return network_pass(rgb, width, height, out, params, begin, end, "network", false, stats);
        if (Status st = check_tta_memory(*backend_, width, height, config_.scale); !st) return st;
        if (backend_->runs_tta())
            return network_pass(rgb, width, height, out, params, begin, end, "network", true, stats);
        auto pass = [&](const float* image, int w, int h, std::vector<float>* result, double from, double to,
                        const char* stage, UpscaleStats* pass_stats) {
            return network_pass(image, w, h, result, params, from, to, stage, false, pass_stats);
        };
        return run_tta(rgb, width, height, config_.scale, pass, params.should_abort, begin, end, out, stats);
    }

    // One forward call on float RGB (with `tta`, the backend's own TTA) and the output check of its result (a
    // rejected half-precision result is redone in float32), progress mapped onto [begin, end] under `stage`.
    Status network_pass(const float* rgb, int width, int height, std::vector<float>* out, const UpscaleParams& params,
                        double begin, double end, const char* stage, bool tta, UpscaleStats* stats) const {
        auto forward = [&](const ForwardControl& control, ForwardStats* forward_stats) {
            return backend_->forward(rgb, width, height, out, control, forward_stats);
        };
        ForwardStats forward_stats;
        if (Status st = run_backend(forward, params, begin, end, stage, tta, stats, &forward_stats); !st) return st;
        if (cancelled(params)) return {StatusCode::Cancelled, "cancelled"};
        const std::size_t pixels = std::size_t(width) * height;
        auto input_max = [&] { return max_value(rgb, pixels * 3); };
        auto redo = [&](const Backend& backend, const ForwardControl& control, OutputCheck* redo_check) {
            ForwardStats redo_stats;
            if (Status st = redo_forward(backend, rgb, width, height, out, control, tta, &redo_stats); !st) return st;
            *redo_check = checked(redo_stats, *out);
            return Status::ok();
        };
        return check_output(checked(forward_stats, *out), out->size(), input_max, redo, params, begin, end, stats);
    }

    // The network on the image's own samples, for a backend that converts them (Backend::forward_samples; with
    // params.tta it runs TTA itself): `result` gets the output samples. A rejected half-precision result is redone
    // in float32 on float RGB into `upscaled`, and *converted becomes false.
    Status network_on_samples(const Image& in, Image* result, std::vector<float>* upscaled, bool* converted,
                              const UpscaleParams& params, UpscaleStats* stats) const {
        if (Status st = params.tta ? check_tta_memory(*backend_, in.width, in.height, config_.scale) : Status::ok();
            !st)
            return st;
        auto forward = [&](const ForwardControl& control, ForwardStats* forward_stats) {
            return backend_->forward_samples(in, result, control, forward_stats);
        };
        ForwardStats forward_stats;
        if (Status st = run_backend(forward, params, kPrepareEnd, kNetworkEnd, "network", params.tta, stats,
                                    &forward_stats);
            !st)
            return st;
        if (cancelled(params)) return {StatusCode::Cancelled, "cancelled"};
        // A backend that converts samples and does not check its float output cannot be checked here.
        if (!forward_stats.output_checked) return Status::ok();
        std::vector<float> rgb;
        auto input_rgb = [&]() -> const std::vector<float>& {
            if (rgb.empty()) rgb = colour_to_rgb(in);
            return rgb;
        };
        auto input_max = [&] {
            const std::vector<float>& image = input_rgb();
            return max_value(image.data(), image.size());
        };
        auto redo = [&](const Backend& backend, const ForwardControl& control, OutputCheck* redo_check) {
            const std::vector<float>& image = input_rgb();
            ForwardStats redo_stats;
            if (Status st = redo_forward(backend, image.data(), in.width, in.height, upscaled, control, params.tta,
                                         &redo_stats);
                !st)
                return st;
            *converted = false;  // the result is now `upscaled`
            *result = Image();
            *redo_check = checked(redo_stats, *upscaled);
            return Status::ok();
        };
        const std::size_t values = std::size_t(in.width) * in.height * 3 * config_.scale * config_.scale;
        return check_output(checked(forward_stats, *upscaled), values, input_max, redo, params, kPrepareEnd,
                            kNetworkEnd, stats);
    }

    // A float32 redo on `backend` of a forward call on float RGB; a result of the backend's own TTA is redone as a
    // whole, the 8 passes turned and averaged on the host.
    Status redo_forward(const Backend& backend, const float* rgb, int width, int height, std::vector<float>* out,
                        const ForwardControl& control, bool tta, ForwardStats* stats) const {
        if (tta) return run_tta_on_host(backend, rgb, width, height, config_.scale, out, control);
        return backend.forward(rgb, width, height, out, control, stats);
    }

    static bool cancelled(const UpscaleParams& params) { return params.should_abort && params.should_abort(); }

    // Progress and cancellation of a forward call: its progress mapped onto [begin, end] of the overall fraction.
    // With `tta` (the backend's own TTA) the stage names the pass, as the host TTA's do.
    static ForwardControl make_control(const UpscaleParams& params, double begin, double end, const char* stage,
                                       bool tta = false) {
        ForwardControl control;
        control.tta = tta;
        if (params.progress)
            control.report = [&params, begin, end, stage, tta](double f) {
                // Pass k reports (k + its fraction) / 8: the end of pass k is still pass k.
                const int pass = int(std::ceil(f * kDihedralTransforms)) - 1;
                params.progress(begin + (end - begin) * f, tta ? tta_pass_stage(pass) : stage);
            };
        if (params.should_abort) control.cancelled = params.should_abort;
        return control;
    }

    // Runs `forward(control, forward_stats)` (a forward call of the backend; with `tta`, its own TTA), mapping its
    // progress onto [begin, end] of the overall fraction under `stage`; its memory figures and stages go to `stats`.
    template <typename Forward>
    Status run_backend(Forward forward, const UpscaleParams& params, double begin, double end, const char* stage,
                       bool tta, UpscaleStats* stats, ForwardStats* forward_stats) const {
        if (Status st = forward(make_control(params, begin, end, stage, tta), forward_stats); !st) return st;
        stats->planned_peak_bytes = forward_stats->planned_peak_bytes;
        stats->observed_peak_bytes = forward_stats->observed_peak_bytes;
        stats->stages.insert(stats->stages.end(), forward_stats->stages.begin(), forward_stats->stages.end());
        return Status::ok();
    }

    // Acts on the output check of the backend's pass (`values` floats; `input_max()` the input's largest colour
    // value, asked for only when the output is black). A good output passes. A rejected one from a reduced-precision
    // backend is redone by `redo(float32 backend, control, &check of its output)`, with a warning in `stats`, and fails only
    // when the float32 result has NaN/Inf values too. Without a float32 backend to redo it on, NaN/Inf values fail
    // and a black output passes with a warning.
    template <typename InputMax, typename Redo>
    Status check_output(const OutputCheck& check, std::size_t values, InputMax input_max, Redo redo,
                        const UpscaleParams& params, double begin, double end, UpscaleStats* stats) const {
        const bool non_finite = check.non_finite > 0;
        if (!non_finite && !(check.black() && input_max() >= kVisibleInput)) return Status::ok();
        const std::string found = non_finite ? std::to_string(check.non_finite) + " NaN/Inf values (of " +
                                                   std::to_string(values) + ")"
                                             : "all black for an input that is not";
        if (!float32_factory_) {
            if (!non_finite) {
                stats->warnings.push_back("the network's result is " + found);
                return Status::ok();
            }
            return {StatusCode::NumericalError, "the network's float32 result on " + backend_->name() + " has " +
                                                    found + "; the model's weights may be broken"};
        }
        const std::string what = "the half-precision result of " + backend_->name() + " had " + found;
        const Backend* float32 = nullptr;
        if (Status st = float32_backend(&float32); !st)
            return {st.code() == StatusCode::OutOfMemory ? st.code() : StatusCode::NumericalError,
                    what + ", and the float32 CPU backend to redo it on could not be created: " + st.message()};

        const auto start = Clock::now();
        OutputCheck again;
        if (Status st = redo(*float32, make_control(params, begin, end, "float32 redo"), &again); !st) {
            if (st.code() == StatusCode::Cancelled) return st;
            return {st.code(), what + "; redoing it in float32 on the CPU failed: " + st.message()};
        }
        stats->stages.push_back({"float32 redo", ms_since(start)});
        if (again.non_finite)
            return {StatusCode::NumericalError, what + "; redone in float32 on the CPU, the result has " +
                                                    std::to_string(again.non_finite) +
                                                    " NaN/Inf values too: the model's weights may be broken"};
        std::string warning = what + "; redone in float32 on the CPU (slower)";
        if (!non_finite && again.black()) warning += "; the float32 result is black too";
        stats->warnings.push_back(std::move(warning));
        return Status::ok();
    }

    // The check of a pass's float output `values`: the backend's own when it made one, else done here.
    static OutputCheck checked(const ForwardStats& stats, const std::vector<float>& values) {
        if (stats.output_checked) return {stats.non_finite_outputs, stats.max_output};
        return check_floats(values);
    }

    // The float32 backend for redoing rejected results, created the first time one is needed.
    Status float32_backend(const Backend** out) const {
        std::lock_guard<std::mutex> lock(float32_mutex_);
        if (!float32_) {
            std::unique_ptr<Backend> backend;
            try {
                if (Status st = float32_factory_(&backend); !st) return st;
            } catch (const std::bad_alloc&) {
                return {StatusCode::OutOfMemory, "out of host memory while preparing the model's weights"};
            }
            float32_ = std::move(backend);
        }
        *out = float32_.get();
        return Status::ok();
    }

    ModelConfig config_;
    std::unique_ptr<Backend> backend_;
    const BackendFactory float32_factory_;  // empty unless backend_ computes in reduced precision
    mutable std::mutex float32_mutex_;
    mutable std::unique_ptr<Backend> float32_;  // created under float32_mutex_, then only read
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
    BackendFactory float32;
    try {
        if (Status st = create_backend(model, params, &backend); !st) return st;
        // A half-precision backend gets a float32 CPU backend to redo rejected results on, created when first
        // needed from a copy of the weights (a few MB for the built-in models).
        if (backend->reduced_precision()) {
            auto weights = std::make_shared<const Model>(model);
            float32 = [weights, threads = params.cpu_threads](std::unique_ptr<Backend>* cpu) {
                return create_cpu_backend(*weights, threads, cpu);
            };
        }
    } catch (const std::bad_alloc&) {
        return {StatusCode::OutOfMemory, "out of host memory while preparing the model's weights"};
    }
    *out = make_engine(model.config(), std::move(backend), std::move(float32));
    return Status::ok();
}

std::size_t Engine::predict_upscale_peak_bytes(int width, int height, const UpscaleParams& params) const {
    return params.tta ? tta_peak_bytes(*this, width, height) : predict_peak_bytes(width, height);
}

std::unique_ptr<Engine> make_engine(const ModelConfig& config, std::unique_ptr<Backend> backend,
                                    BackendFactory float32_backend) {
    return std::make_unique<EngineImpl>(config, std::move(backend), std::move(float32_backend));
}

}  // namespace nalasr
