// `nalasr eval`: PSNR/SSIM (Y channel, border shaved) of the network and of bicubic on a benchmark folder of
// *_HR.png / *_LR.png pairs, as published tables measure them.
#pragma once

#include <filesystem>
#include <string>

namespace nalasr::cli {

struct EvalOptions {
    std::filesystem::path dataset;  // the pairs' folder, or a set folder holding x2/ x3/ x4/
    int scale = 0;  // -s: 0 = the model's scale
    std::filesystem::path model;
    std::string model_name;  // -n: a built-in model or a model folder's file stem
    std::string device = "auto";
    int gpu = 0;
    std::filesystem::path json;
    bool tta = false;  // -x/--tta: UpscaleParams::tta (the mean over the 8 flips/rotations; 8x the time)
};

int run_eval(const EvalOptions& options);

}  // namespace nalasr::cli
