// The results of `nalasr upscale`, per file and in total, and their JSON form for --report.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "device_scheduler.h"
#include "nalasr/engine.h"
#include "nalasr/model.h"
#include "nalasr/status.h"

namespace nalasr::cli {

struct FileResult {
    std::string input, output;
    Status status;         // ok, or why this file failed
    bool skipped = false;  // --skip-existing found the output already there (status ok)
    int width_in = 0, height_in = 0, width_out = 0, height_out = 0;
    std::uintmax_t bytes_in = 0, bytes_out = 0;  // file sizes
    double seconds = 0;    // wall time of this file: read, engine and write
    UpscaleStats stats;    // filled when the engine ran; stages include "read" and "write"
    std::vector<std::string> warnings;
};

// What one device (engine) did in the run.
struct DeviceSummary {
    std::string name;  // the engine's backend name, "cuda:1 (NVIDIA H100 80GB HBM3)"
    DeviceShare share;
};

struct RunSummary {
    std::string model_source;  // a path, or "default model (built in)"
    const Model* model = nullptr;
    std::string backend;                 // every device's name, comma-separated
    std::vector<DeviceSummary> devices;  // one per engine, in -g order
    std::vector<FileResult> files;
    bool interrupted = false;
    int not_started = 0;  // jobs left when Ctrl-C or SIGTERM stopped the run
    std::string shard;    // "I/N" with --shard, else empty
    bool keep_colours = false;  // --keep-colours
    bool tta = false;           // -x/--tta
    double wall_seconds = 0;   // the whole command
    double batch_seconds = 0;  // the files alone: from the first read to the last write (throughput's time base)

    int succeeded() const;  // written now, or skipped as already done
    int skipped() const;
    int cancelled() const;  // stopped by Ctrl-C/SIGTERM while the engine ran
    int failed() const;     // neither succeeded nor cancelled
    int upscaled() const;   // files the engines ran (summed over the devices)
    double megapixels() const;  // their input megapixels
};

// Text from a model file (config, provenance) parsed as JSON; kept as a JSON string if it does not parse.
nlohmann::ordered_json parse_or_text(const std::string& text);

// The batch's throughput for the summary line: "2.41 images/s, 9.63 MP/s" and, with several devices, each
// one's share: " (cuda:0 12 file(s) 40.2 MP, cuda:1 10 file(s) 35.1 MP)". Empty when no image was upscaled.
std::string throughput_text(const RunSummary& summary);

nlohmann::ordered_json report_json(const RunSummary& summary);
// Writes the report (pretty-printed); IoError when the file cannot be written.
Status write_report(const std::filesystem::path& path, const RunSummary& summary);

}  // namespace nalasr::cli
