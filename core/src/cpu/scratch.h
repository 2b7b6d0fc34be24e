// Scratch memory of the CPU ops, metered: the backend installs a ScratchMeter for one forward pass and reports
// what the ops really allocated next to what the planner predicted. Ops allocate their scratch on the calling
// thread, outside OpenMP regions (the meter is thread-local, so concurrent forwards do not mix).
// Buffers of a few KB (transposed filters, RoPE tables, per-thread rows) are plain vectors and not metered.
#pragma once

#include <cstddef>
#include <memory>

namespace nalasr::cpu {

struct ScratchMeter {
    std::size_t current = 0;  // bytes held now
    std::size_t peak = 0;     // high-water mark since the last reset
};

// Makes `meter` count this thread's Scratch allocations while the scope lives.
class ScratchMeterScope {
public:
    explicit ScratchMeterScope(ScratchMeter* meter);
    ~ScratchMeterScope();
    ScratchMeterScope(const ScratchMeterScope&) = delete;
    ScratchMeterScope& operator=(const ScratchMeterScope&) = delete;

private:
    ScratchMeter* previous_;
};

// An uninitialised float buffer whose size is counted by the installed meter (if any).
class Scratch {
public:
    explicit Scratch(std::size_t floats);
    ~Scratch();
    Scratch(const Scratch&) = delete;
    Scratch& operator=(const Scratch&) = delete;
    float* data() { return data_.get(); }

private:
    std::unique_ptr<float[]> data_;
    std::size_t bytes_;
    ScratchMeter* meter_;
};

}  // namespace nalasr::cpu
