#include "cpu/scratch.h"

#include <algorithm>

namespace nalasr::cpu {
namespace {
thread_local ScratchMeter* t_meter = nullptr;
}

ScratchMeterScope::ScratchMeterScope(ScratchMeter* meter) : previous_(t_meter) { t_meter = meter; }
ScratchMeterScope::~ScratchMeterScope() { t_meter = previous_; }

Scratch::Scratch(std::size_t floats)
    : data_(new float[floats]), bytes_(floats * sizeof(float)), meter_(t_meter) {
    if (meter_) {
        meter_->current += bytes_;
        meter_->peak = std::max(meter_->peak, meter_->current);
    }
}

Scratch::~Scratch() {
    if (meter_) meter_->current -= bytes_;
}

}  // namespace nalasr::cpu
