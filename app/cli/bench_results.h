// What `nalasr bench` computes from its points and writes: the NaLa-vs-softmax memory reduction per size, and
// the CSV and JSON files.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench_measure.h"
#include "nalasr/model.h"
#include "nalasr/status.h"

namespace nalasr::cli {

// NaLaFormer's figure for SR at 70K+ tokens: peak memory −92.3 % against softmax attention.
constexpr double kPaperReduction = 0.923;

// 1 − peak_nala / peak_softmax at one size on one device. Each peak is the observed one when that point was
// measured, else the planner's.
struct MemoryReduction {
    std::string device, backend;
    InputSize size;
    std::size_t nala_bytes = 0, softmax_bytes = 0;
    bool nala_measured = false, softmax_measured = false;
    double reduction() const { return 1.0 - double(nala_bytes) / double(softmax_bytes); }
};

// One entry per (device, size) that has both a NaLa and a softmax point, in the points' order.
std::vector<MemoryReduction> memory_reductions(const std::vector<BenchPoint>& points);

// What the files say about the run besides the points.
struct BenchContext {
    std::string model_source;  // a path, or "random weights"
    ModelConfig config;        // attention aside
    std::size_t parameters = 0;
    std::vector<std::string> random_weight_kinds;  // kinds that ran on random weights (the model's did not fit)
    MeasureSettings settings;
};

// One row per point; empty fields where a value does not apply (nothing observed for a point not run).
std::string bench_csv(const std::vector<BenchPoint>& points);
nlohmann::ordered_json bench_json(const BenchContext& context, const std::vector<BenchPoint>& points);

// Writes `text` to `path`; IoError with the path when it cannot.
Status write_text_file(const std::filesystem::path& path, const std::string& text);

}  // namespace nalasr::cli
