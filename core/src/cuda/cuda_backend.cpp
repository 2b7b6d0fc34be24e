// The CUDA backend: weights resident on one GPU, activations in one arena per input size (allocated once and
// reused while the size stays the same), the forward pass of cuda_network.cpp. 8- and 16-bit images travel as
// their own samples and are converted on the GPU (sample_io.cuh), through pinned staging buffers
// (pinned_staging.h). Calls are serialised on the backend's stream by a mutex that covers only the GPU work and
// the transfers; the host copies into and out of the staging buffers run outside it, so that while one call copies,
// another call's network can run. TTA (ForwardControl::tta) runs on device buffers too: the input goes up once and
// the 8 passes' transforms and averaging are kernels (dihedral.cuh). Every CUDA or cuBLAS failure comes back as a
// Status.
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>

#include "backend.h"
#include "cuda/cuda_check.h"
#include "cuda/cuda_context.h"
#include "cuda/cuda_network.h"
#include "cuda/cuda_plan.h"
#include "cuda/cuda_weights.h"
#include "cuda/pinned_staging.h"
#include "dihedral.cuh"
#include "dihedral.h"
#include "dwconv.cuh"
#include "finite_check.cuh"
#include "linear_attention.cuh"
#include "sample_io.cuh"

namespace nalasr {
namespace {

using cuda::Buf;
using Clock = std::chrono::steady_clock;

std::string mib(std::size_t bytes) {
    char text[32];
    std::snprintf(text, sizeof text, "%.1f MiB", double(bytes) / double(1 << 20));
    return text;
}

// Why this backend cannot run a config, or "" when it can.
std::string unsupported_reason(const ModelConfig& c) {
    if (c.channels > kernels::kMaxLayerNormChannels)
        return "the CUDA backend supports at most " + std::to_string(kernels::kMaxLayerNormChannels) +
               " channels (the model has " + std::to_string(c.channels) + ")";
    if (c.attention != AttentionKind::Softmax && c.head_dim() > kernels::kMaxLinearHeadDim)
        return "the CUDA backend supports head widths up to " + std::to_string(kernels::kMaxLinearHeadDim) +
               " (the model has " + std::to_string(c.head_dim()) + ")";
    return "";
}

// Elapsed milliseconds between two recorded events (0 if the query fails).
double elapsed_ms(cudaEvent_t a, cudaEvent_t b) {
    float ms = 0.0f;
    return cudaEventElapsedTime(&ms, a, b) == cudaSuccess ? double(ms) : 0.0;
}

// A captured forward pass, replayed while the arena (whose addresses it holds) stays the same. Replaying one
// graph instead of launching a few hundred kernels and GEMMs one by one removes the launch gaps, which matter
// at small sizes.
class ForwardGraph {
public:
    ~ForwardGraph() { reset(); }
    void reset() {
        if (exec_) cudaGraphExecDestroy(exec_);
        exec_ = nullptr;
    }
    bool ready() const { return exec_ != nullptr; }

    // Captures `enqueue` (which must only enqueue work on `stream`) and instantiates it.
    template <typename Enqueue>
    Status capture(cudaStream_t stream, Enqueue enqueue) {
        reset();
        NALASR_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
        const Status st = enqueue();
        cudaGraph_t graph = nullptr;
        const cudaError_t end = cudaStreamEndCapture(stream, &graph);
        if (!st) {
            if (graph) cudaGraphDestroy(graph);
            return st;
        }
        NALASR_CUDA_CHECK(end);
        const cudaError_t inst = cudaGraphInstantiate(&exec_, graph, 0);
        cudaGraphDestroy(graph);
        if (inst != cudaSuccess) exec_ = nullptr;
        NALASR_CUDA_CHECK(inst);
        return Status::ok();
    }
    Status launch(cudaStream_t stream) const {
        NALASR_CUDA_CHECK(cudaGraphLaunch(exec_, stream));
        return Status::ok();
    }

private:
    cudaGraphExec_t exec_ = nullptr;
};

// CUDA graphs are on unless NALASR_CUDA_GRAPHS=0 (for comparisons and debugging).
bool graphs_enabled() {
    const char* v = std::getenv("NALASR_CUDA_GRAPHS");
    return !(v && std::string(v) == "0");
}

// The kernels index input tokens with 32-bit integers.
Status check_input_size(int width, int height) {
    if (width <= 0 || height <= 0)
        return {StatusCode::InvalidArgument,
                "forward: empty input " + std::to_string(width) + "x" + std::to_string(height)};
    if (std::int64_t(width) * height >= (std::int64_t(1) << 31))
        return {StatusCode::InvalidArgument, "forward: " + std::to_string(width) + "x" + std::to_string(height) +
                                                 " has more pixels than the CUDA backend handles (2^31)"};
    return Status::ok();
}

// Image::allocate, with a failed host allocation as OutOfMemory.
Status allocate_image(int width, int height, int channels, SampleType type, Image* image) {
    try {
        image->allocate(width, height, channels, type);
    } catch (const std::bad_alloc&) {
        return {StatusCode::OutOfMemory, "cannot allocate the " + mib(std::size_t(width) * height * channels *
                                                                      sample_size(type)) +
                                             " output image in host memory"};
    }
    return Status::ok();
}

// What one pass (or TTA's 8) took: milliseconds per stage, the memory figures, and the output check.
struct PassReport {
    bool tta = false;  // TTA's passes: the stage "tta" (transforms and averaging) too
    double wait_ms = 0, upload_ms = 0, network_ms = 0, download_ms = 0, tta_ms = 0;
    std::size_t planned_bytes = 0, observed_bytes = 0;
    std::size_t non_finite = 0;
    float max_output = 0.0f;

    // Adds TTA's pass `pass`: times summed, the larger peaks. The check counts every pass's non-finite values and
    // keeps the smallest maximum, so that the Engine rejects the result when it would have rejected any pass.
    void add_tta_pass(const PassReport& pass, bool first) {
        wait_ms += pass.wait_ms, upload_ms += pass.upload_ms, network_ms += pass.network_ms;
        download_ms += pass.download_ms, tta_ms += pass.tta_ms;
        planned_bytes = std::max(planned_bytes, pass.planned_bytes);
        observed_bytes = std::max(observed_bytes, pass.observed_bytes);
        non_finite += pass.non_finite;
        max_output = first ? pass.max_output : std::min(max_output, pass.max_output);
    }

    void write(ForwardStats* stats) const {
        if (!stats) return;
        stats->planned_peak_bytes = planned_bytes;
        stats->observed_peak_bytes = observed_bytes;
        stats->output_checked = true;
        stats->non_finite_outputs = non_finite;
        stats->max_output = max_output;
        stats->stages.push_back({"wait", wait_ms});
        stats->stages.push_back({"upload", upload_ms});
        stats->stages.push_back({"network", network_ms});
        stats->stages.push_back({"download", download_ms});
        if (tta) stats->stages.push_back({"tta", tta_ms});
    }
};

// The steps a pass enqueues around the network, each given (plan, arena, stream); an empty one enqueues nothing.
using PassStep = std::function<Status(const cuda::ForwardPlan&, std::byte*, cudaStream_t)>;
struct PassSteps {
    PassStep upload;      // fills Buf::Input ("upload")
    PassStep transform;   // TTA: turns the image into Buf::Input ("tta")
    PassStep accumulate;  // TTA: adds Buf::Output turned back to the accumulator ("tta")
    PassStep download;    // the result's way to the host ("download")
};

// How forward() and forward_samples() move their image: `upload(rgb, …)` enqueues the float RGB input into the
// device buffer rgb, `download(rgb, …)` the float RGB result in rgb to the host; both get the pass's (plan, arena,
// stream) for the arena's sample buffers.
using ImageUpload = std::function<Status(float* rgb, const cuda::ForwardPlan&, std::byte*, cudaStream_t)>;
using ImageDownload = std::function<Status(const float* rgb, const cuda::ForwardPlan&, std::byte*, cudaStream_t)>;

float* arena_floats(const cuda::ForwardPlan& plan, std::byte* arena, Buf buffer) {
    return reinterpret_cast<float*>(arena + plan.offset(buffer));
}

// Where the output check (finite_check.cuh) lands: its device result, and a pinned host copy so that the copy is
// enqueued like the download. Allocated once, at creation (pinned allocations synchronise the device, which must
// not happen while another thread captures a graph); used under the backend's lock.
class CheckBuffers {
public:
    ~CheckBuffers() {
        if (host_) cudaFreeHost(host_);
    }
    Status allocate() {
        NALASR_RETURN_IF_ERROR(device_.allocate(sizeof(kernels::FiniteCheck)));
        void* p = nullptr;
        NALASR_CUDA_CHECK(cudaMallocHost(&p, sizeof(kernels::FiniteCheck)));
        host_ = static_cast<kernels::FiniteCheck*>(p);
        return Status::ok();
    }
    kernels::FiniteCheck* device() const { return reinterpret_cast<kernels::FiniteCheck*>(device_.data()); }
    kernels::FiniteCheck* host() const { return host_; }

private:
    cuda::DeviceBuffer device_;
    kernels::FiniteCheck* host_ = nullptr;
};

// The timing events of a pass, destroyed with the scope.
struct Events {
    cudaEvent_t e[6] = {};
    ~Events() {
        for (cudaEvent_t ev : e)
            if (ev) cudaEventDestroy(ev);
    }
    Status create() {
        for (cudaEvent_t& ev : e) NALASR_CUDA_CHECK(cudaEventCreate(&ev));
        return Status::ok();
    }
};

class CudaBackend final : public Backend {
public:
    CudaBackend(const Model& model, int device, std::string name)
        : config_(model.config()), name_(std::move(name)), ctx_(device), staging_(device, mutex_) {}

    Status init(const Model& model) {
        NALASR_RETURN_IF_ERROR(ctx_.activate());
        NALASR_RETURN_IF_ERROR(check_.allocate());
        return cuda::upload_weights(model, &weights_);
    }

    std::string name() const override { return name_; }

    std::size_t predict_peak_bytes(int width, int height) const override {
        return cuda::plan_forward(config_, width, height).arena_bytes() + cuda::CudaContext::kWorkspaceBytes;
    }

    // Free device memory plus what this backend would give back or reuse: its arena and its workspace (both
    // counted in predict_peak_bytes).
    std::size_t available_bytes() const override {
        std::lock_guard<std::mutex> lock(mutex_);
        return available_locked();
    }

    bool converts_samples(SampleType type) const override {
        return type == SampleType::U8 || type == SampleType::U16;
    }

    bool reduced_precision() const override { return true; }

    bool runs_tta() const override { return true; }

    Status forward(const float* rgb, int width, int height, std::vector<float>* out, const ForwardControl& control,
                   ForwardStats* stats) const override {
        if (!rgb || !out) return {StatusCode::InvalidArgument, "forward: null image or output"};
        NALASR_RETURN_IF_ERROR(check_input_size(width, height));
        const std::size_t in_bytes = std::size_t(width) * height * 3 * sizeof(float),
                          out_bytes = in_bytes * config_.scale * config_.scale;
        auto upload = [&](float* image, const cuda::ForwardPlan&, std::byte*, cudaStream_t s) {
            NALASR_CUDA_CHECK(cudaMemcpyAsync(image, rgb, in_bytes, cudaMemcpyHostToDevice, s));
            return Status::ok();
        };
        auto download = [&](const float* result, const cuda::ForwardPlan&, std::byte*, cudaStream_t s) -> Status {
            try {
                out->resize(out_bytes / sizeof(float));
            } catch (const std::bad_alloc&) {
                return {StatusCode::OutOfMemory,
                        "cannot allocate the " + mib(out_bytes) + " output image in host memory"};
            }
            NALASR_CUDA_CHECK(cudaMemcpyAsync(out->data(), result, out_bytes, cudaMemcpyDeviceToHost, s));
            return Status::ok();
        };
        PassReport report;
        NALASR_RETURN_IF_ERROR(control.tta ? run_tta(width, height, control, upload, download, &report)
                                           : run_pass(width, height, control, upload, download, &report));
        report.write(stats);
        return Status::ok();
    }

    Status forward_samples(const Image& in, Image* out, const ForwardControl& control,
                           ForwardStats* stats) const override {
        if (!out) return {StatusCode::InvalidArgument, "forward_samples: no output image"};
        NALASR_RETURN_IF_ERROR(check_input_size(in.width, in.height));
        if (!converts_samples(in.type) || in.channels < 1 || in.channels > 4 ||
            in.pixels.size() != std::size_t(in.width) * in.height * in.channels * sample_size(in.type))
            return {StatusCode::InvalidArgument, "forward_samples: not an 8- or 16-bit image of 1-4 channels"};
        const int out_w = in.width * config_.scale, out_h = in.height * config_.scale;
        const std::int64_t in_pixels = std::int64_t(in.width) * in.height, out_pixels = std::int64_t(out_w) * out_h;
        const std::size_t in_bytes = in.pixels.size(),
                          out_bytes = std::size_t(out_pixels) * std::size_t(in.channels) * sample_size(in.type);
        const kernels::IntSample type = in.type == SampleType::U8 ? kernels::IntSample::U8 : kernels::IntSample::U16;
        PassReport report;

        // The pinned buffer carries the input samples up, then the output samples down.
        auto clock = Clock::now();
        cuda::StagingPool::Lease staging = staging_.acquire(std::max(in_bytes, out_bytes));
        report.wait_ms = ms_since(clock);
        clock = Clock::now();
        if (staging.data()) std::memcpy(staging.data(), in.pixels.data(), in_bytes);
        const double host_upload_ms = ms_since(clock);
        const void* source = staging.data() ? static_cast<const void*>(staging.data()) : in.pixels.data();

        Image result;
        auto upload = [&](float* image, const cuda::ForwardPlan& plan, std::byte* arena, cudaStream_t s) {
            std::byte* samples = arena + plan.offset(Buf::SamplesIn);
            NALASR_CUDA_CHECK(cudaMemcpyAsync(samples, source, in_bytes, cudaMemcpyHostToDevice, s));
            NALASR_CUDA_CHECK(kernels::samples_to_rgb(samples, type, in.channels, in_pixels, image, s));
            return Status::ok();
        };
        auto download = [&](const float* rgb, const cuda::ForwardPlan& plan, std::byte* arena, cudaStream_t s) {
            std::byte* samples = arena + plan.offset(Buf::SamplesOut);
            NALASR_CUDA_CHECK(kernels::rgb_to_samples(rgb, out_pixels, in.channels, type, samples, s));
            void* target = staging.data();
            if (!target) {  // no pinned buffer: straight into the result
                NALASR_RETURN_IF_ERROR(allocate_image(out_w, out_h, in.channels, in.type, &result));
                target = result.pixels.data();
            }
            NALASR_CUDA_CHECK(cudaMemcpyAsync(target, samples, out_bytes, cudaMemcpyDeviceToHost, s));
            return Status::ok();
        };
        NALASR_RETURN_IF_ERROR(control.tta ? run_tta(in.width, in.height, control, upload, download, &report)
                                           : run_pass(in.width, in.height, control, upload, download, &report));

        clock = Clock::now();
        if (staging.data()) {
            NALASR_RETURN_IF_ERROR(allocate_image(out_w, out_h, in.channels, in.type, &result));
            std::memcpy(result.pixels.data(), staging.data(), out_bytes);
        }
        staging = {};  // the slot is free for the next call before the result is handed over
        report.upload_ms += host_upload_ms;
        report.download_ms += ms_since(clock);
        *out = std::move(result);
        report.write(stats);
        return Status::ok();
    }

private:
    // Takes the lock that serialises the GPU work, adding the time waited for it to report->wait_ms.
    std::unique_lock<std::mutex> acquire(PassReport* report) const {
        const auto wait_start = Clock::now();
        std::unique_lock<std::mutex> lock(mutex_);
        report->wait_ms += ms_since(wait_start);
        return lock;
    }

    // One plain pass: `upload` fills Buf::Input, `download` takes Buf::Output.
    Status run_pass(int width, int height, const ForwardControl& control, const ImageUpload& upload,
                    const ImageDownload& download, PassReport* report) const {
        const auto lock = acquire(report);
        NALASR_RETURN_IF_ERROR(ctx_.activate());
        PassSteps steps;
        steps.upload = [&](const cuda::ForwardPlan& plan, std::byte* arena, cudaStream_t s) {
            return upload(arena_floats(plan, arena, Buf::Input), plan, arena, s);
        };
        steps.download = [&](const cuda::ForwardPlan& plan, std::byte* arena, cudaStream_t s) {
            return download(arena_floats(plan, arena, Buf::Output), plan, arena, s);
        };
        return run_pass_locked(width, height, control, steps, report);
    }

    // TTA (tta.h) on the GPU, holding the lock for all 8 passes (the buffers are this call's): `upload` puts the
    // image once into a buffer of its own, each pass's Buf::Input is a transform of it (dihedral.cuh), each pass's
    // checked Buf::Output is added turned back into a float32 accumulator in the order 0..7, and after the last pass
    // the mean (× 1/8, exact) goes to `download`. `cancelled` is polled between passes too.
    Status run_tta(int width, int height, const ForwardControl& control, const ImageUpload& upload,
                   const ImageDownload& download, PassReport* report) const {
        const auto lock = acquire(report);
        NALASR_RETURN_IF_ERROR(ctx_.activate());
        const int out_w = width * config_.scale, out_h = height * config_.scale;
        const std::int64_t out_values = std::int64_t(out_w) * out_h * 3;
        cuda::DeviceBuffer input, sum;  // freed before the lock, after every pass has synchronised
        NALASR_RETURN_IF_ERROR(input.allocate(std::size_t(width) * height * 3 * sizeof(float)));
        NALASR_RETURN_IF_ERROR(sum.allocate(std::size_t(out_values) * sizeof(float)));
        float* image = reinterpret_cast<float*>(input.data());
        float* mean = reinterpret_cast<float*>(sum.data());
        report->tta = true;
        for (int t = 0; t < kDihedralTransforms; ++t) {
            if (t > 0 && control.cancelled && control.cancelled()) return {StatusCode::Cancelled, "cancelled"};
            const bool last = t == kDihedralTransforms - 1;
            ForwardControl pass_control;
            pass_control.cancelled = control.cancelled;
            if (control.report)
                pass_control.report = [&control, t](double f) { control.report((t + f) / kDihedralTransforms); };
            PassSteps steps;
            if (t == 0)
                steps.upload = [&](const cuda::ForwardPlan& plan, std::byte* arena, cudaStream_t s) {
                    return upload(image, plan, arena, s);
                };
            steps.transform = [&, t](const cuda::ForwardPlan& plan, std::byte* arena, cudaStream_t s) {
                if (t == 0) NALASR_CUDA_CHECK(cudaMemsetAsync(mean, 0, sum.bytes(), s));
                NALASR_CUDA_CHECK(
                    kernels::dihedral_transform(image, width, height, t, arena_floats(plan, arena, Buf::Input), s));
                return Status::ok();
            };
            steps.accumulate = [&, t, last](const cuda::ForwardPlan& plan, std::byte* arena, cudaStream_t s) {
                NALASR_CUDA_CHECK(kernels::add_inverse_dihedral(arena_floats(plan, arena, Buf::Output), out_w, out_h,
                                                                t, mean, s));
                // A power of two: exact.
                if (last) NALASR_CUDA_CHECK(kernels::scale_values(mean, out_values, 1.0f / kDihedralTransforms, s));
                return Status::ok();
            };
            if (last)
                steps.download = [&](const cuda::ForwardPlan& plan, std::byte* arena, cudaStream_t s) {
                    return download(mean, plan, arena, s);
                };
            const bool swap = dihedral_swaps_axes(t);
            PassReport pass;
            NALASR_RETURN_IF_ERROR(
                run_pass_locked(swap ? height : width, swap ? width : height, pass_control, steps, &pass));
            report->add_tta_pass(pass, t == 0);
        }
        report->planned_bytes += input.bytes() + sum.bytes();  // = tta_buffer_bytes(width, height, scale)
        report->observed_bytes += input.bytes() + sum.bytes();
        return Status::ok();
    }

    // One pass, the lock held and the device active: the memory check, the arena, then `steps` in the order
    // upload, transform, the network and the check of its float output (counted in "network"), accumulate and
    // download, each timed with events; returns once the download has landed. `report` gets the GPU stage times,
    // the memory and the check.
    Status run_pass_locked(int width, int height, const ForwardControl& control, const PassSteps& steps,
                           PassReport* report) const {
        const cuda::ForwardPlan plan = cuda::plan_forward(config_, width, height);
        const std::size_t planned = plan.arena_bytes() + cuda::CudaContext::kWorkspaceBytes;
        const std::size_t available = available_locked();
        if (planned > available) {
            const int side = largest_square_that_fits(*this, available);
            return {StatusCode::OutOfMemory,
                    name_ + ": a " + std::to_string(width) + "x" + std::to_string(height) + " input needs " +
                        mib(planned) + " of GPU memory but " + mib(available) +
                        " is available; the largest square input that fits is about " + std::to_string(side) + "x" +
                        std::to_string(side)};
        }
        std::size_t arena_observed = arena_observed_bytes_;
        // A new size needs a new arena (and graph), even when the byte count happens to be the same.
        if (plan.width != arena_width_ || plan.height != arena_height_) {
            arena_width_ = arena_height_ = 0;
            NALASR_RETURN_IF_ERROR(allocate_arena(plan, &arena_observed));
            arena_width_ = plan.width, arena_height_ = plan.height;
        }

        Events ev;
        NALASR_RETURN_IF_ERROR(ev.create());
        std::size_t free_before = 0, free_after = 0, total = 0;
        NALASR_CUDA_CHECK(cudaMemGetInfo(&free_before, &total));
        cudaStream_t s = ctx_.stream();
        std::byte* arena = arena_.data();
        // On a failure after work was enqueued, let it finish before the arena can be reused.
        auto failed = [&](Status st) {
            cudaStreamSynchronize(s);
            return st;
        };
        auto enqueue = [&](const PassStep& step) { return step ? step(plan, arena, s) : Status::ok(); };
        NALASR_CUDA_CHECK(cudaEventRecord(ev.e[0], s));
        if (Status st = enqueue(steps.upload); !st) return failed(st);
        NALASR_CUDA_CHECK(cudaEventRecord(ev.e[1], s));
        if (Status st = enqueue(steps.transform); !st) return failed(st);
        NALASR_CUDA_CHECK(cudaEventRecord(ev.e[2], s));
        if (Status st = run_network(plan, control); !st) return failed(st);
        // Before the download, which may convert to samples (NaN → 0): a few tens of µs for a 4K output.
        NALASR_CUDA_CHECK(kernels::check_finite(arena_floats(plan, arena, Buf::Output),
                                                std::int64_t(plan.bytes[std::size_t(Buf::Output)] / sizeof(float)),
                                                check_.device(), s));
        NALASR_CUDA_CHECK(cudaEventRecord(ev.e[3], s));
        if (Status st = enqueue(steps.accumulate); !st) return failed(st);
        NALASR_CUDA_CHECK(cudaEventRecord(ev.e[4], s));
        if (Status st = enqueue(steps.download); !st) return failed(st);
        NALASR_CUDA_CHECK(cudaMemcpyAsync(check_.host(), check_.device(), sizeof(kernels::FiniteCheck),
                                          cudaMemcpyDeviceToHost, s));
        NALASR_CUDA_CHECK(cudaEventRecord(ev.e[5], s));
        NALASR_CUDA_CHECK(cudaStreamSynchronize(s));
        report->non_finite = std::size_t(check_.host()->non_finite);
        report->max_output = kernels::finite_check_max(*check_.host());
        NALASR_CUDA_CHECK(cudaMemGetInfo(&free_after, &total));

        report->planned_bytes = planned;
        // What this backend holds for the pass (the arena as cudaMemGetInfo saw it allocated, the workspace) plus
        // anything the libraries allocated during the pass.
        report->observed_bytes = arena_observed + cuda::CudaContext::kWorkspaceBytes +
                                 (free_before > free_after ? free_before - free_after : 0);
        report->upload_ms += elapsed_ms(ev.e[0], ev.e[1]);
        report->tta_ms += elapsed_ms(ev.e[1], ev.e[2]) + elapsed_ms(ev.e[3], ev.e[4]);
        report->network_ms += elapsed_ms(ev.e[2], ev.e[3]);
        report->download_ms += elapsed_ms(ev.e[4], ev.e[5]);
        return Status::ok();
    }

    // The network on the arena: replayed from a graph when nothing needs to run between blocks (no progress or
    // cancel callbacks), captured on the first pass of an arena.
    Status run_network(const cuda::ForwardPlan& plan, const ForwardControl& control) const {
        auto enqueue = [&] { return cuda::run_network(ctx_, config_, weights_, plan, arena_.data(), control); };
        if (!use_graphs_ || control.report || control.cancelled) return enqueue();
        if (!graph_.ready()) NALASR_RETURN_IF_ERROR(graph_.capture(ctx_.stream(), enqueue));
        return graph_.launch(ctx_.stream());
    }

    std::size_t available_locked() const {
        std::size_t free = 0, total = 0;
        if (cudaSetDevice(ctx_.device()) != cudaSuccess || cudaMemGetInfo(&free, &total) != cudaSuccess) return 0;
        return free + arena_.bytes() + cuda::CudaContext::kWorkspaceBytes;
    }

    // Replaces the arena by one of `bytes`; `observed` gets the drop in free memory cudaMemGetInfo reports.
    Status allocate_arena(const cuda::ForwardPlan& plan, std::size_t* observed) const {
        const std::size_t bytes = plan.arena_bytes();
        graph_.reset();
        arena_.reset();
        arena_observed_bytes_ = 0;
        std::size_t free_before = 0, free_after = 0, total = 0;
        NALASR_CUDA_CHECK(cudaMemGetInfo(&free_before, &total));
        NALASR_RETURN_IF_ERROR(arena_.allocate(bytes));
        NALASR_CUDA_CHECK(cudaMemGetInfo(&free_after, &total));
        arena_observed_bytes_ = free_before > free_after ? free_before - free_after : bytes;
        *observed = arena_observed_bytes_;
        NALASR_RETURN_IF_ERROR(cuda::prepare_arena(config_, plan, arena_.data()));
        // prepare_arena copies on the legacy default stream, which our non-blocking stream does not wait for (and
        // a copy from pageable memory may return before it lands): finish it before the pass reads the arena.
        NALASR_CUDA_CHECK(cudaDeviceSynchronize());
        return Status::ok();
    }

    const ModelConfig config_;
    const std::string name_;
    mutable std::mutex mutex_;
    mutable cuda::CudaContext ctx_;
    cuda::NetworkWeights weights_;
    mutable cuda::DeviceBuffer arena_;
    mutable std::size_t arena_observed_bytes_ = 0;
    mutable int arena_width_ = 0, arena_height_ = 0;  // the input size the arena (and graph) were made for
    mutable ForwardGraph graph_;
    mutable cuda::StagingPool staging_;
    CheckBuffers check_;  // used under mutex_
    const bool use_graphs_ = graphs_enabled();
};

// The device count, or the reason there is no usable device.
Status device_count(int* count) {
    *count = 0;
    const cudaError_t e = cudaGetDeviceCount(count);
    if (e != cudaSuccess) {
        cudaGetLastError();
        *count = 0;
        return {StatusCode::BackendUnavailable,
                std::string("no usable NVIDIA GPU: ") + cudaGetErrorString(e) + " (is the NVIDIA driver installed?)"};
    }
    if (*count == 0) return {StatusCode::BackendUnavailable, "no NVIDIA GPU found"};
    return Status::ok();
}

}  // namespace

Status create_cuda_backend(const Model& model, int gpu_index, std::unique_ptr<Backend>* out) {
    int count = 0;
    NALASR_RETURN_IF_ERROR(device_count(&count));
    if (gpu_index < 0 || gpu_index >= count)
        return {StatusCode::InvalidArgument, "GPU index " + std::to_string(gpu_index) + " does not exist (" +
                                                 std::to_string(count) + " GPU" + (count == 1 ? "" : "s") +
                                                 " found; indices start at 0)"};
    cudaDeviceProp prop{};
    NALASR_CUDA_CHECK(cudaGetDeviceProperties(&prop, gpu_index));
    if (prop.major < 8)
        return {StatusCode::BackendUnavailable, std::string(prop.name) + " has compute capability " +
                                                    std::to_string(prop.major) + "." + std::to_string(prop.minor) +
                                                    "; the CUDA backend needs 8.0 or newer"};
    if (std::string why = unsupported_reason(model.config()); !why.empty())
        return {StatusCode::BackendUnavailable, why};

    auto backend = std::make_unique<CudaBackend>(model, gpu_index,
                                                 "cuda:" + std::to_string(gpu_index) + " (" + prop.name + ")");
    NALASR_RETURN_IF_ERROR(backend->init(model));
    *out = std::move(backend);
    return Status::ok();
}

std::vector<GpuInfo> list_gpus() {
    std::vector<GpuInfo> gpus;
    int count = 0;
    if (!device_count(&count)) return gpus;
    int current = 0;
    cudaGetDevice(&current);
    for (int i = 0; i < count; ++i) {
        cudaDeviceProp prop{};
        if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) continue;
        GpuInfo info;
        info.index = i;
        info.name = prop.name;
        info.total_bytes = prop.totalGlobalMem;
        info.compute_major = prop.major;
        info.compute_minor = prop.minor;
        std::size_t free = 0, total = 0;
        if (cudaSetDevice(i) == cudaSuccess && cudaMemGetInfo(&free, &total) == cudaSuccess) info.free_bytes = free;
        gpus.push_back(std::move(info));
    }
    cudaSetDevice(current);
    cudaGetLastError();
    return gpus;
}

bool cuda_compiled() { return true; }

}  // namespace nalasr
