// NalaSR public API: the upscaling engine.
//
// Basic usage:
//
//     nalasr::Model model;
//     if (auto st = nalasr::Model::load_default(&model); !st) { report(st.message()); }
//     nalasr::EngineParams ep;                      // backend Auto: CUDA if a GPU is usable, else CPU
//     std::unique_ptr<nalasr::Engine> engine;
//     if (auto st = nalasr::Engine::create(model, ep, &engine); !st) { ... }
//     nalasr::Image in, out;
//     nalasr::load_image("photo.png", &in);
//     nalasr::UpscaleParams up;                     // progress / abort callbacks are optional
//     nalasr::UpscaleStats stats;
//     if (auto st = engine->upscale(in, &out, up, &stats); !st) { ... }
//     nalasr::save_image("photo_x4.png", out);
//
// The whole image is one attention sequence: no tiles, no seams. Before running, the engine's memory
// planner predicts the peak; if it does not fit, upscale() returns OutOfMemory with the largest size that
// would fit, before allocating anything.
//
// Thread safety: upscale() is const and may be called from several threads at once on one Engine; each call
// uses its own working memory (the CUDA backend serialises calls on its stream).
//
// Output check: every result is checked for NaN/Inf values and for black output from an input that is not black.
// A half-precision (CUDA) result that fails is redone in float32 on the CPU, with a warning in UpscaleStats; a
// float32 result with NaN/Inf values fails with NumericalError. A NaN or black image is never returned silently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "nalasr/image.h"
#include "nalasr/model.h"
#include "nalasr/status.h"

namespace nalasr {

enum class BackendKind { Auto, Cpu, Cuda };
const char* backend_kind_name(BackendKind kind);  // "auto", "cpu", "cuda"
bool parse_backend_kind(const std::string& name, BackendKind* out);

struct GpuInfo {
    int index = 0;
    std::string name;
    std::size_t total_bytes = 0;
    std::size_t free_bytes = 0;
    int compute_major = 0, compute_minor = 0;
};

// CUDA devices usable by this build (empty in a CPU-only build or without a driver/GPU).
std::vector<GpuInfo> list_gpus();
// Whether this library was compiled with the CUDA backend.
bool cuda_compiled();
std::string version_string();

struct EngineParams {
    BackendKind backend = BackendKind::Auto;
    int gpu_index = 0;    // CUDA device, for backend Cuda/Auto
    int cpu_threads = 0;  // 0: all cores
};

// Progress: `done` of `total` units of work finished; `stage` names the current stage ("network", ...).
using ProgressFn = std::function<void(double fraction, const char* stage)>;
// Polled between units of work; returning true cancels the upscale (Status Cancelled, no output).
using AbortFn = std::function<bool()>;

struct UpscaleParams {
    ProgressFn progress;  // optional
    AbortFn should_abort; // optional
    // Keep the input's colours: the output keeps the network's luminance (BT.601 Y) but takes its chroma (Cb, Cr)
    // from a bicubic upscale of the input, for models that shift colour or tone. No effect on grey images or alpha.
    // Runs on the host in float (stage "keep colours"); on CUDA, 8- and 16-bit images then take the float path.
    bool keep_input_colours = false;
    // TTA, test-time augmentation (a self-ensemble; realesrgan-ncnn-vulkan's -x): the network runs on the 8 dihedral
    // transforms of the input (identity, mirrors, rotations by 90°/180°/270°, transposes), each result is turned back
    // and the 8 are averaged in float32 in a fixed order (deterministic); then the usual steps run (output check of
    // each pass, keep colours, alpha, sample conversion). Cost: 8× the network time, and the peak of one pass of the
    // larger orientation plus a float32 accumulator of the output and one input image: on CUDA these two are on the
    // device and predict_upscale_peak_bytes counts them; elsewhere they are in host memory. Gain: a little accuracy
    // (PSNR), no new detail. Progress stages "network (TTA k/8)"; should_abort is also polled between the passes.
    bool tta = false;
};

struct StageTime {
    std::string stage;  // "prepare", "upload", "network", "download", "float32 redo", "tta", "keep colours",
                        // "alpha", "convert" (with TTA, each backend stage is the sum over the 8 passes and "tta" is
                        // the time of the transforms and the averaging)
    double ms = 0;
};

struct UpscaleStats {
    std::string backend;        // "cpu" or "cuda:0 (NVIDIA H100 80GB HBM3)"
    std::size_t tokens = 0;     // attention sequence length = input width * height
    std::vector<StageTime> stages;
    double total_ms = 0;
    std::size_t planned_peak_bytes = 0;   // the planner's prediction of working memory (device, or host for CPU)
    std::size_t observed_peak_bytes = 0;  // as measured (cudaMemGetInfo / the CPU arena's high-water mark)
    // With TTA both are the largest over the 8 passes: one pass's peak, not 8× (the host accumulator is not in them).
    std::size_t peak_host_rss_bytes = 0;  // process peak resident set size after the call
    // Things the caller should show, one sentence each, e.g. that the GPU's half-precision result had NaN/Inf
    // values and the image was redone in float32 on the CPU (docs/robustness.md).
    std::vector<std::string> warnings;
};

class Engine {
public:
    virtual ~Engine() = default;

    // Builds an engine for a model on a backend. Uploads/repacks the weights once.
    static Status create(const Model& model, const EngineParams& params, std::unique_ptr<Engine>* out);

    // Upscales `in` (any size, 1-4 channels, u8/u16/f32) by the model's scale. The output has the input's
    // channels and sample type. Colour runs through the network; alpha is upscaled with bicubic; grey
    // images go through the network as R=G=B and come back grey. With params.keep_input_colours, the colour
    // image's chroma is the bicubic upscale's; with params.tta, the network's result is the mean over the 8
    // dihedral transforms (see UpscaleParams).
    virtual Status upscale(const Image& in, Image* out, const UpscaleParams& params,
                           UpscaleStats* stats) const = 0;

    // Runs the network on float RGB (H, W, 3) in [0, 1] → (sH, sW, 3), unclamped; with params.tta the mean over the
    // 8 dihedral transforms. For tests and eval.
    virtual Status run_network(const float* rgb, int width, int height, std::vector<float>* out,
                               const UpscaleParams& params, UpscaleStats* stats) const = 0;

    // The planner's peak working memory for an input of this size, in bytes (no allocation).
    virtual std::size_t predict_peak_bytes(int width, int height) const = 0;
    // The same for upscale() or run_network() with `params`: with params.tta the larger of predict_peak_bytes(width,
    // height) and predict_peak_bytes(height, width), as a rotation by 90° swaps the sides, plus, on a backend that
    // runs TTA on its device (CUDA), the float32 input and output accumulator it holds there beside the pass.
    virtual std::size_t predict_upscale_peak_bytes(int width, int height, const UpscaleParams& params) const;
    // Bytes the backend may use now (free device memory, or available host memory for CPU).
    virtual std::size_t available_bytes() const = 0;
    // The largest square input (side in pixels) whose planned peak fits in `budget_bytes`, e.g.
    // available_bytes(): bisection over predict_peak_bytes, no allocation. 0 when not even 1×1 fits.
    int largest_square_that_fits(std::size_t budget_bytes) const;

    virtual std::string backend_name() const = 0;
    virtual const ModelConfig& config() const = 0;
};

}  // namespace nalasr
