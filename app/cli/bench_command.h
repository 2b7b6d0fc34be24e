// `nalasr bench`: peak memory and time of the network over input sizes × attention kinds × devices, against
// the memory planner's prediction; the NaLa-vs-softmax memory reduction (the 70K-token claim); CSV, JSON and
// a gnuplot plot. `--max`: the largest square input each kind can upscale in one pass.
#pragma once

#include <filesystem>
#include <string>

namespace nalasr::cli {

struct BenchOptions {
    std::string devices = "auto";                // comma-separated: auto, cpu, cuda
    std::string attention = "nala,pola,softmax";  // comma-separated kinds
    std::string sizes;                           // "" = the default ladder (or --quick's)
    std::filesystem::path model;                 // "" = random weights of the default config
    std::string model_name;                      // -n: a built-in model (or model folder's file stem) instead of -m
    std::filesystem::path out;                   // folder for bench.csv/.json/.gnuplot/.png/.svg; "" = none
    int gpu = 0;
    int threads = 0;  // CPU threads, 0 = all cores
    int warmup = 1;
    int repeats = 3;
    double max_seconds = -1;  // per run of a point: -1 = the default (60 s, 20 s with --quick), 0 = no limit
    bool quick = false;
    bool max = false;
    bool verify = false;
    bool no_plot = false;
};

// Returns the process exit code (exit_codes.h).
int run_bench(const BenchOptions& options);

}  // namespace nalasr::cli
