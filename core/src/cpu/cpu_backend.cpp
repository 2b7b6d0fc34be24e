// The CPU backend: the numerical reference of NalaSR. Runs the network program (network_program.h) with all
// activations in one arena laid out by the memory planner.
#include <chrono>
#include <cstdlib>
#include <memory>
#include <omp.h>

#include "backend.h"
#include "cpu/host_memory.h"
#include "cpu/network_program.h"
#include "cpu/scratch.h"
#include "memory_plan.h"
#include "safetensors.h"

namespace nalasr {
namespace {

// Sets the OpenMP thread count of the calling thread for one forward pass and restores it afterwards (BLAS runs
// single-threaded inside OpenMP threads, cpu/gemm.h, so OpenMP's count is the only one).
class OmpThreadsScope {
public:
    explicit OmpThreadsScope(int threads) : threads_(threads), previous_(omp_get_max_threads()) {
        if (threads_ > 0) omp_set_num_threads(threads_);
    }
    ~OmpThreadsScope() {
        if (threads_ > 0) omp_set_num_threads(previous_);
    }
    OmpThreadsScope(const OmpThreadsScope&) = delete;
    OmpThreadsScope& operator=(const OmpThreadsScope&) = delete;

private:
    int threads_, previous_;
};

struct FreeDeleter {
    void operator()(void* p) const { std::free(p); }
};

class CpuBackend final : public Backend {
public:
    CpuBackend(const Model& model, int threads) : weights_(model), threads_(threads) {}

    std::string name() const override { return "cpu"; }

    std::size_t predict_peak_bytes(int width, int height) const override {
        const cpu::Program program = cpu::build_network_program(weights_, height, width, nullptr, nullptr);
        return plan_memory(program.lifetimes()).arena_bytes + program.max_scratch_bytes();
    }

    std::size_t available_bytes() const override { return cpu::host_available_bytes(); }
    bool host_memory() const override { return true; }

    Status forward(const float* rgb, int width, int height, std::vector<float>* out, const ForwardControl& control,
                   ForwardStats* stats) const override {
        const auto start = std::chrono::steady_clock::now();
        const int s = weights_.config().scale;
        if (width <= 0 || height <= 0) return {StatusCode::InvalidArgument, "empty input"};

        const cpu::Program program = cpu::build_network_program(weights_, height, width, rgb, nullptr);
        const MemoryPlan plan = plan_memory(program.lifetimes());
        const std::size_t planned = plan.arena_bytes + program.max_scratch_bytes();
        const std::size_t output_bytes = std::size_t(width) * height * s * s * 3 * sizeof(float);
        const std::size_t available = available_bytes();
        if (available != 0 && planned + output_bytes > available) {
            // The output image is allocated beside the plan: the suggested size must leave room for it too.
            const int side = largest_square_that_fits(*this, available, std::size_t(s) * s * 3 * sizeof(float));
            return {StatusCode::OutOfMemory, "the CPU forward pass for " + std::to_string(width) + "x" +
                                                 std::to_string(height) + " needs " + gib(planned + output_bytes) +
                                                 " but only " + gib(available) +
                                                 " of host memory is available; the largest square input that fits "
                                                 "is about " + std::to_string(side) + "x" + std::to_string(side)};
        }

        const std::size_t arena_bytes = std::max(plan.arena_bytes, kArenaAlignment);  // a multiple of the alignment
        std::unique_ptr<void, FreeDeleter> arena(std::aligned_alloc(kArenaAlignment, arena_bytes));
        try {
            out->assign(output_bytes / sizeof(float), 0.0f);
        } catch (const std::bad_alloc&) {
            return {StatusCode::OutOfMemory, "cannot allocate the " + gib(output_bytes) + " output image"};
        }
        if (!arena) return {StatusCode::OutOfMemory, "cannot allocate the " + gib(plan.arena_bytes) + " activation arena"};
        // The last step writes the output; rebuild the program with the real output pointer.
        const cpu::Program runnable = cpu::build_network_program(weights_, height, width, rgb, out->data());

        std::size_t observed = 0;
        if (Status st = execute(runnable, plan, static_cast<char*>(arena.get()), control, &observed); !st) {
            out->clear();
            return st;
        }
        if (stats) {
            stats->planned_peak_bytes = planned;
            stats->observed_peak_bytes = observed;
            const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
            stats->stages.push_back({"network", ms});
        }
        return Status::ok();
    }

private:
    // Runs the steps. `observed` becomes the high-water mark of the allocator accounting: the arena as allocated
    // plus the largest scratch the ops actually allocated in one step (metered, cpu/scratch.h).
    Status execute(const cpu::Program& program, const MemoryPlan& plan, char* arena, const ForwardControl& control,
                   std::size_t* observed) const {
        const OmpThreadsScope threads(threads_);
        std::vector<float*> buffers(plan.offsets.size());
        for (std::size_t i = 0; i < buffers.size(); ++i) buffers[i] = reinterpret_cast<float*>(arena + plan.offsets[i]);

        cpu::ScratchMeter meter;
        const cpu::ScratchMeterScope meter_scope(&meter);
        int units_done = 0;
        for (std::size_t s = 0; s < program.steps.size(); ++s) {
            program.steps[s].run(buffers.data());
            if (program.steps[s].ends_block) {
                ++units_done;
                if (control.report) control.report(double(units_done) / program.progress_units);
            }
            // Polled after every step (tens of ms at typical sizes), not only per block, so cancel is prompt.
            if (control.cancelled && s + 1 < program.steps.size() && control.cancelled())
                return {StatusCode::Cancelled, "cancelled"};
        }
        *observed = plan.arena_bytes + meter.peak;
        return Status::ok();
    }

    cpu::NetworkWeights weights_;
    int threads_;
};

}  // namespace

Status create_cpu_backend(const Model& model, int threads, std::unique_ptr<Backend>* out) {
    if (Status st = model.config().validate(); !st) return st;
    for (const auto& [name, shape] : expected_tensors(model.config())) {
        const Tensor* t = model.find(name);
        if (!t) return {StatusCode::ModelMismatch, "model '" + model.name() + "' has no tensor '" + name + "'"};
        std::size_t count = 1;
        for (auto dim : shape) count *= std::size_t(dim);
        if (t->shape != shape || t->data.size() != count)
            return {StatusCode::ModelMismatch, "model '" + model.name() + "': tensor '" + name + "' has shape " +
                                                   safetensors::shape_string(t->shape) + " but the config needs " +
                                                   safetensors::shape_string(shape)};
    }
    if (threads < 0) return {StatusCode::InvalidArgument, "cpu_threads must be 0 (all cores) or positive"};
    *out = std::make_unique<CpuBackend>(model, threads);
    return Status::ok();
}

}  // namespace nalasr
