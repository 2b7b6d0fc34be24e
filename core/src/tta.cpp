// TTA (tta.h): the 8 dihedral transforms, the memory check and the averaging loop around the network passes.
#include "tta.h"

#include <algorithm>
#include <chrono>
#include <string>

namespace nalasr {
namespace {

constexpr std::size_t kRgbBytes = 3 * sizeof(float);

// Adds `from` to `into`, stage by stage: a stage already there gets the time added.
void add_stages(const std::vector<StageTime>& from, std::vector<StageTime>* into) {
    for (const StageTime& stage : from) {
        auto same = std::find_if(into->begin(), into->end(), [&](const StageTime& s) { return s.stage == stage.stage; });
        if (same == into->end()) into->push_back(stage);
        else same->ms += stage.ms;
    }
}

}  // namespace

void dihedral_transform(const float* rgb, int width, int height, int t, std::vector<float>* out) {
    const DihedralMap map = dihedral_map(t, width, height);
    out->resize(std::size_t(width) * height * 3);
    float* dst = out->data();
#pragma omp parallel for schedule(static)
    for (int y = 0; y < map.th; ++y)
        for (int x = 0; x < map.tw; ++x)
            std::copy_n(rgb + map.source(x, y) * 3, 3, dst + (std::size_t(y) * map.tw + x) * 3);
}

void add_inverse_dihedral(const std::vector<float>& transformed, int width, int height, int t, std::vector<float>* sum) {
    const DihedralMap map = dihedral_map(t, width, height);
    const float* src = transformed.data();
    float* dst = sum->data();
#pragma omp parallel for schedule(static)
    for (int y = 0; y < map.th; ++y)
        for (int x = 0; x < map.tw; ++x) {
            float* to = dst + map.source(x, y) * 3;
            const float* from = src + (std::size_t(y) * map.tw + x) * 3;
            for (int c = 0; c < 3; ++c) to[c] += from[c];
        }
}

std::size_t tta_buffer_bytes(int width, int height, int scale) {
    return std::size_t(width) * height * (std::size_t(scale) * scale + 1) * kRgbBytes;
}

Status check_tta_memory(const Backend& backend, int width, int height, int scale) {
    const std::size_t available = backend.available_bytes();
    if (available == 0) return Status::ok();  // unknown: the passes check for themselves
    const std::size_t s2 = std::size_t(scale) * scale;
    // On a host-memory backend the pass's output, the accumulator and the transformed input share its memory; a
    // backend that runs TTA itself holds the accumulator and the input beside its pass.
    const std::size_t per_pixel = backend.host_memory() ? s2 * kRgbBytes + tta_buffer_bytes(1, 1, scale)
                                  : backend.runs_tta()  ? tta_buffer_bytes(1, 1, scale)
                                                        : 0;
    const std::size_t needed = tta_peak_bytes(backend, width, height) + std::size_t(width) * height * per_pixel;
    if (needed <= available) return Status::ok();
    const int side = largest_square_that_fits(backend, available, per_pixel);
    return {StatusCode::OutOfMemory, "TTA on " + backend.name() + " for " + std::to_string(width) + "x" +
                                         std::to_string(height) + " needs " + gib(needed) +
                                         " (its larger orientation" +
                                         (per_pixel ? std::string(" and the TTA accumulator") : std::string()) +
                                         ") but only " + gib(available) +
                                         " is available; the largest square input that fits is about " +
                                         std::to_string(side) + "x" + std::to_string(side)};
}

const char* tta_pass_stage(int pass) {
    static const char* const kStages[kDihedralTransforms] = {
        "network (TTA 1/8)", "network (TTA 2/8)", "network (TTA 3/8)", "network (TTA 4/8)",
        "network (TTA 5/8)", "network (TTA 6/8)", "network (TTA 7/8)", "network (TTA 8/8)"};
    return kStages[std::clamp(pass, 0, kDihedralTransforms - 1)];
}

Status run_tta(const float* rgb, int width, int height, int scale, const NetworkPass& pass,
               const std::function<bool()>& cancelled, double begin, double end, std::vector<float>* out,
               UpscaleStats* stats) {
    const int out_w = width * scale, out_h = height * scale;
    std::vector<float> sum(std::size_t(out_w) * out_h * 3, 0.0f), input, result;
    double tta_ms = 0;
    for (int t = 0; t < kDihedralTransforms; ++t) {
        if (t > 0 && cancelled && cancelled()) return {StatusCode::Cancelled, "cancelled"};
        auto start = std::chrono::steady_clock::now();
        dihedral_transform(rgb, width, height, t, &input);
        tta_ms += ms_since(start);

        const bool swap = dihedral_swaps_axes(t);
        const double step = (end - begin) / kDihedralTransforms;
        UpscaleStats pass_stats;
        if (Status st = pass(input.data(), swap ? height : width, swap ? width : height, &result, begin + step * t,
                             begin + step * (t + 1), tta_pass_stage(t), &pass_stats);
            !st)
            return st;
        stats->planned_peak_bytes = std::max(stats->planned_peak_bytes, pass_stats.planned_peak_bytes);
        stats->observed_peak_bytes = std::max(stats->observed_peak_bytes, pass_stats.observed_peak_bytes);
        add_stages(pass_stats.stages, &stats->stages);
        for (const std::string& warning : pass_stats.warnings)
            stats->warnings.push_back("TTA pass " + std::to_string(t + 1) + ": " + warning);

        start = std::chrono::steady_clock::now();
        add_inverse_dihedral(result, out_w, out_h, t, &sum);
        tta_ms += ms_since(start);
    }
    const auto start = std::chrono::steady_clock::now();
    const float mean = 1.0f / kDihedralTransforms;  // a power of two: exact
    for (float& v : sum) v *= mean;
    *out = std::move(sum);
    stats->stages.push_back({"tta", tta_ms + ms_since(start)});
    return Status::ok();
}

Status run_tta_on_host(const Backend& backend, const float* rgb, int width, int height, int scale,
                       std::vector<float>* out, const ForwardControl& control) {
    auto pass = [&](const float* image, int w, int h, std::vector<float>* result, double from, double to,
                    const char*, UpscaleStats*) {
        ForwardControl pass_control;
        pass_control.cancelled = control.cancelled;
        if (control.report) pass_control.report = [&](double f) { control.report(from + (to - from) * f); };
        ForwardStats ignored;
        return backend.forward(image, w, h, result, pass_control, &ignored);
    };
    UpscaleStats ignored;
    return run_tta(rgb, width, height, scale, pass, control.cancelled, 0.0, 1.0, out, &ignored);
}

}  // namespace nalasr
