// The three stages of one file in a batch: read and decode, upscale on an engine, encode and write. Each turns
// a failure into the file's result ("INPUT: reason") instead of stopping the batch. batch_runner.cpp runs them
// on its threads.
#pragma once

#include "batch_runner.h"
#include "job_plan.h"
#include "nalasr/engine.h"
#include "run_report.h"

namespace nalasr::cli {

// A job after the read stage: the decoded input, or a result that already says why it failed (or that it is
// skipped).
struct Loaded {
    FileResult result;
    Image image;
};

// A job after the engine: the image to write, or a result that says why there is none.
struct Upscaled {
    FileResult result;
    Image image;
    ImageFormat format = ImageFormat::Png;
    bool does_not_fit = false;  // the engine refused the image as too large for its device's memory
};

// Reads and decodes the job's input; refuses sizes the output format could not hold (`scale`: the model's).
Loaded load_stage(const Job& job, int scale, const BatchSettings& settings);

// Runs the engine on a decoded image (which stays untouched, so that another device can try it).
Upscaled engine_stage(const Loaded& in, const Job& job, const Engine& engine, const BatchSettings& settings,
                      const UpscaleParams& params);

// Encodes and writes the upscaled image (creating a mirrored subfolder when needed).
FileResult save_stage(Upscaled up, const BatchSettings& settings);

}  // namespace nalasr::cli
