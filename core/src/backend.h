// The backend interface (private to core/). A backend runs the whole NalaSR network for one image; the
// Engine (engine.cpp) does everything around it: sample conversion, alpha, statistics, progress.
//
// Backends: CPU (cpu/cpu_backend.cpp, the numerical reference) and CUDA (cuda/cuda_backend.cpp, only in
// builds with NALASR_WITH_CUDA). Both are created from a loaded Model; both are safe to call from several
// threads at once (each call owns its working memory; CUDA serialises on its stream).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "nalasr/engine.h"
#include "nalasr/model.h"
#include "nalasr/status.h"

namespace nalasr {

// What a backend reports back from one forward pass.
struct ForwardStats {
    std::size_t planned_peak_bytes = 0;   // the planner's figure for this size
    std::size_t observed_peak_bytes = 0;  // measured: arena high-water mark (CPU), cudaMemGetInfo delta (CUDA)
    // e.g. upload / network / download (and "tta" for a backend's own TTA); CUDA adds "wait": for another call's GPU
    // work or staging buffer (and, the first time, for allocating that buffer)
    std::vector<StageTime> stages;
    // The check of the network's float output, before any conversion to samples (where NaN would become 0):
    // how many values are NaN or ±Inf, and the largest finite value (0 when none is positive). Backends that
    // compute in reduced precision fill these and set output_checked; the Engine checks the others' output itself.
    bool output_checked = false;
    std::size_t non_finite_outputs = 0;
    float max_output = 0.0f;
};

// Progress, cancellation and TTA for one forward call. `report` receives a fraction in [0, 1] of the network;
// `cancelled` is polled between blocks (at least every ~100 ms of work) and stops the pass with Cancelled.
struct ForwardControl {
    std::function<void(double fraction)> report;
    std::function<bool()> cancelled;
    // Only for a backend whose runs_tta() is true: the call's result is TTA's mean over the passes on the 8
    // dihedral transforms (tta.h), pass k spanning [k/8, (k+1)/8] of `report`, `cancelled` also polled between
    // passes. Its stats: each stage summed over the passes plus "tta" (transforms and averaging), the largest
    // planned and observed peak, and an output check that rejects the result when any pass's would have been.
    bool tta = false;
};

class Backend {
public:
    virtual ~Backend() = default;

    // "cpu", or "cuda:0 (NVIDIA H100 80GB HBM3)".
    virtual std::string name() const = 0;

    // Runs the network: rgb is (height, width, 3) float in [0, 1], out becomes (s·height, s·width, 3),
    // unclamped. Returns OutOfMemory (with the largest square input that would fit in the message) when
    // the planned peak exceeds available_bytes(), before allocating.
    virtual Status forward(const float* rgb, int width, int height, std::vector<float>* out,
                           const ForwardControl& control, ForwardStats* stats) const = 0;

    // Whether forward_samples takes images of this sample type (the CUDA backend: u8 and u16). The Engine
    // converts samples on the host and calls forward() for the others.
    virtual bool converts_samples(SampleType type) const {
        (void)type;
        return false;
    }

    // forward() on an image's own samples, for a type converts_samples() accepts: the backend converts the
    // colour channels to the network's RGB and the network's output back to samples itself, bit-identical to
    // sample_convert.h (rounding, clamping, grey = mean of R, G, B). `out` becomes (s·width, s·height) with in's
    // channels and type, alpha samples 0 (the Engine upscales alpha). Stages as forward(); the host-side copies
    // and the conversions are counted in "upload" and "download".
    virtual Status forward_samples(const Image& in, Image* out, const ForwardControl& control,
                                   ForwardStats* stats) const {
        (void)in, (void)out, (void)control, (void)stats;
        return {StatusCode::Internal, name() + " does not convert samples"};
    }

    // Whether this backend computes in reduced precision (CUDA: float16 activations), so that the Engine redoes an
    // image whose output is non-finite or black on a float32 CPU backend (docs/robustness.md).
    virtual bool reduced_precision() const { return false; }

    // (optional) Whether forward() and forward_samples() run TTA themselves when ForwardControl::tta asks (CUDA: on
    // device buffers, so 8- and 16-bit images keep the GPU's sample conversion). For the others the Engine runs
    // TTA on the host around plain forward() passes (run_tta, tta.h).
    virtual bool runs_tta() const { return false; }

    // Whether this backend's working memory is host memory (the CPU backend), so that the Engine's own host buffers
    // (e.g. the TTA accumulator, tta.h) count against available_bytes() too.
    virtual bool host_memory() const { return false; }

    // The memory planner's peak working memory for an input of this size (bytes, no allocation).
    virtual std::size_t predict_peak_bytes(int width, int height) const = 0;

    // Memory this backend may use now (free device memory; available host memory for CPU).
    virtual std::size_t available_bytes() const = 0;
};

// Factories. create_cuda_backend returns BackendUnavailable in CPU-only builds or without a usable GPU.
Status create_cpu_backend(const Model& model, int threads, std::unique_ptr<Backend>* out);
Status create_cuda_backend(const Model& model, int gpu_index, std::unique_ptr<Backend>* out);

// Largest square side (pixels) whose predicted peak, plus `bytes_per_input_pixel` for every input pixel (e.g. an
// output image the backend allocates outside its plan), fits in `budget_bytes` (bisection over predict).
int largest_square_that_fits(const Backend& backend, std::size_t budget_bytes, std::size_t bytes_per_input_pixel = 0);

// A byte count for messages, "1.50 GiB".
std::string gib(std::size_t bytes);

// Milliseconds from `start` to now, for stage times.
double ms_since(std::chrono::steady_clock::time_point start);

}  // namespace nalasr
