// nalasr: the command-line front end. Parses arguments (CLI11) and hands over to one command; no engine logic.
#include <CLI/CLI.hpp>

#include "eval_command.h"
#include "exit_codes.h"
#include "info_command.h"
#include "nalasr/engine.h"
#include "upscale_command.h"

namespace {

constexpr char kExitCodesHelp[] =
    "Exit codes: 0 all files succeeded; 1 some files failed (each reported as 'error: FILE: reason');\n"
    "            2 usage or setup error (bad arguments, model not loadable, backend unavailable);\n"
    "            130 interrupted by Ctrl-C (the current image is abandoned, no partial file is written).";

void add_upscale(CLI::App& app, nalasr::cli::UpscaleOptions& o) {
    CLI::App* cmd = app.add_subcommand("upscale", "Upscale image files or folders");
    cmd->add_option("inputs", o.inputs, "Input images and/or folders (all images directly inside)")->required();
    cmd->add_option("-o,--output", o.output,
                    "Output folder (created if needed), or an image file when there is a single input file")
        ->required();
    cmd->add_option("-s,--scale", o.scale, "Scale 2, 3 or 4 (default: the model's; picks nalasr_nala_x{s} if no -m)")
        ->check(CLI::IsMember({2, 3, 4}));
    cmd->add_option("-m,--model", o.model, "Model file (.safetensors); default: the built-in x4 model")
        ->check(CLI::ExistingFile);
    cmd->add_option("--device", o.device, "auto (CUDA if usable, else CPU), cpu or cuda")
        ->check(CLI::IsMember({"auto", "cpu", "cuda"}))
        ->capture_default_str();
    cmd->add_option("--gpu", o.gpu, "CUDA device index (see `nalasr info`)")->capture_default_str();
    cmd->add_option("--report", o.report, "Write a JSON report: per file sizes, times, memory; totals; model");
    cmd->add_option("-f,--format", o.format, "Output format: png, jpg, webp, tiff or bmp (default: the input's)")
        ->check(CLI::IsMember({"png", "jpg", "jpeg", "webp", "tif", "tiff", "bmp"}));
    cmd->add_option("-q,--quality", o.quality, "JPEG/WebP quality 1-100 (default: JPEG 95, WebP lossless)")
        ->check(CLI::Range(1, 100));
    cmd->add_flag("--overwrite", o.overwrite, "Replace existing output files (never an input file)");
    cmd->add_flag("--strip-metadata", o.strip_metadata, "Write no EXIF and no ICC profile (default: keep them)");
    cmd->add_option("--max-pixels", o.max_pixels, "Refuse inputs with more pixels than this, before decoding")
        ->capture_default_str();
    cmd->footer(std::string("Output names in a folder: {name}_x{scale}.{ext}.\n") + kExitCodesHelp);
}

void add_eval(CLI::App& app, nalasr::cli::EvalOptions& o) {
    CLI::App* cmd = app.add_subcommand("eval", "PSNR/SSIM (Y channel) on a benchmark folder of *_HR.png/*_LR.png pairs");
    cmd->add_option("--dataset", o.dataset, "Folder of pairs, or a set folder containing x2/ x3/ x4/")
        ->required()
        ->check(CLI::ExistingDirectory);
    cmd->add_option("-s,--scale", o.scale, "Scale 2, 3 or 4")->check(CLI::IsMember({2, 3, 4}))->capture_default_str();
    cmd->add_option("-m,--model", o.model, "Model file (.safetensors)")->check(CLI::ExistingFile);
    cmd->add_option("--device", o.device, "auto, cpu or cuda")
        ->check(CLI::IsMember({"auto", "cpu", "cuda"}))
        ->capture_default_str();
    cmd->add_option("--gpu", o.gpu, "CUDA device index")->capture_default_str();
    cmd->add_option("--json", o.json, "Write the per-image results and means as JSON");
}

}  // namespace

int main(int argc, char** argv) {
    using namespace nalasr::cli;
    CLI::App app{"NalaSR: whole-image super-resolution with NaLa linear attention (no tiles, no seams)", "nalasr"};
    app.set_version_flag("--version", nalasr::version_string());
    app.require_subcommand(1);
    app.footer(kExitCodesHelp);
    UpscaleOptions upscale;
    EvalOptions eval;
    add_upscale(app, upscale);
    add_eval(app, eval);
    app.add_subcommand("info", "Version, CUDA support, GPUs, default and bundled models");

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int code = app.exit(e);  // prints help, version or the error
        return code == 0 ? kExitOk : kExitSetup;
    }
    if (app.got_subcommand("upscale")) return run_upscale(upscale);
    if (app.got_subcommand("eval")) return run_eval(eval);
    return run_info();
}
