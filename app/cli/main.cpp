// nalasr: the command-line front end. Parses arguments (CLI11) and hands over to one command; no engine logic.
#include <CLI/CLI.hpp>

#include "bench_command.h"
#include "eval_command.h"
#include "exit_codes.h"
#include "info_command.h"
#include "nalasr/engine.h"
#include "upscale_command.h"

namespace {

constexpr char kExitCodesHelp[] =
    "Exit codes: 0 all files succeeded; 1 some files failed (each reported as 'error: FILE: reason');\n"
    "            2 usage or setup error (bad arguments, model not loadable, backend unavailable);\n"
    "            130 interrupted by Ctrl-C, 143 by SIGTERM (the current image is abandoned, no partial file is\n"
    "            written; run again with --skip-existing to finish the rest).";

void add_upscale(CLI::App& app, nalasr::cli::UpscaleOptions& o) {
    CLI::App* cmd = app.add_subcommand("upscale", "Upscale image files or folders");
    cmd->add_option("inputs", o.inputs, "Input images and/or folders (all images directly inside)")->required();
    cmd->add_option("-o,--output", o.output,
                    "Output folder (created if needed), or an image file when there is a single input file")
        ->required();
    cmd->add_option("-s,--scale", o.scale, "Scale 2, 3 or 4 (default: the model's; without -m/-n picks the x{s} model)")
        ->check(CLI::IsMember({2, 3, 4}));
    CLI::Option* model =
        cmd->add_option("-m,--model", o.model, "Model file (.safetensors); default: the built-in x4 model")
            ->check(CLI::ExistingFile);
    cmd->add_option("-n,--model-name", o.model_name, "Built-in model by name (see `nalasr info`), e.g. nalasr_nala_x2")
        ->excludes(model);
    cmd->add_option("--attention", o.attention, "Kind of the built-in model picked by -s: nala (default) or pola")
        ->check(CLI::IsMember({"nala", "pola"}));
    cmd->add_option("--device", o.device, "auto (CUDA if usable, else CPU), cpu or cuda")
        ->check(CLI::IsMember({"auto", "cpu", "cuda"}))
        ->capture_default_str();
    cmd->add_option("-g,--gpu", o.gpus,
                    "CUDA devices, comma-separated, each an index or part of the name as `nalasr info` prints them "
                    "(e.g. 0,1 or H100 or \"rtx 4090\",0; case-insensitive; a name matching several GPUs chooses them "
                    "all): one engine per GPU, each file goes to the next free one. Implies --device cuda");
    cmd->add_option("--report", o.report, "Write a JSON report: per file sizes, times, memory; totals; model");
    cmd->add_option("-f,--format", o.format, "Output format: png, jpg, webp, tiff or bmp (default: the input's)")
        ->check(CLI::IsMember({"png", "jpg", "jpeg", "webp", "tif", "tiff", "bmp"}));
    cmd->add_option("-q,--quality", o.quality, "JPEG/WebP quality 1-100 (default: JPEG 95, WebP lossless)")
        ->check(CLI::Range(1, 100));
    cmd->add_flag("--overwrite", o.overwrite, "Replace existing output files (never an input file)");
    cmd->add_flag("--skip-existing", o.skip_existing, "Skip inputs whose output exists already (resume a batch)");
    cmd->add_flag("-r,--recursive", o.recursive, "Include subfolders, mirrored in the output folder");
    cmd->add_option("--name", o.name_pattern, "Output name: {name} input stem, {scale}, {ext} input extension")
        ->capture_default_str();
    cmd->add_option("-j,--jobs", o.jobs,
                    "Images read ahead and written behind the engine, in parallel (default: one per CPU core, 2 to 16; "
                    "here " + std::to_string(nalasr::cli::default_jobs()) + ")")
        ->check(CLI::Range(1, 64));
    cmd->add_option("--shard", o.shard, "I/N: process part I (1..N) of the sorted file list, for cluster job arrays");
    cmd->add_option("--max-memory", o.max_memory, "Refuse images needing more working memory than this (e.g. 6G)");
    cmd->add_option("--outscale", o.output_size.factor,
                    "Final size = input x this factor (e.g. 1.5 or 8): the network runs at the model's scale (without "
                    "-s/-m/-n the smallest of x2/x3/x4 not below the factor), then the result is resampled");
    cmd->add_option("--width", o.output_size.width, "Final width in pixels (alone: the aspect ratio is kept)")
        ->check(CLI::Range(1, 1 << 20));
    cmd->add_option("--height", o.output_size.height, "Final height in pixels (alone: the aspect ratio is kept)")
        ->check(CLI::Range(1, 1 << 20));
    cmd->add_flag("--keep-colours,--keep-colors", o.keep_colours,
                  "Keep the input's colours: the network's luminance with the chroma of a bicubic upscale of the "
                  "input (against colour or tone shifts; no effect on grey images)");
    cmd->add_flag("-x,--tta", o.tta,
                  "TTA: average the network's results on the 8 flips/rotations of the input (8x slower, slightly more "
                  "accurate; same GPU memory)");
    cmd->add_flag("--cpu-fallback", o.cpu_fallback,
                  "Upscale on the CPU what no GPU has the free memory for (slower; host memory is usually larger)");
    cmd->add_flag("--strip-metadata", o.strip_metadata, "Write no EXIF and no ICC profile (default: keep them)");
    cmd->add_option("--max-pixels", o.max_pixels, "Refuse inputs with more pixels than this, before decoding")
        ->capture_default_str();
    cmd->footer(std::string("Output names in a folder: {name}_x{scale}.{ext} (see --name).\n") + kExitCodesHelp);
}

void add_eval(CLI::App& app, nalasr::cli::EvalOptions& o) {
    CLI::App* cmd = app.add_subcommand("eval", "PSNR/SSIM (Y channel) on a benchmark folder of *_HR.png/*_LR.png pairs");
    cmd->add_option("--dataset", o.dataset, "Folder of pairs, or a set folder containing x2/ x3/ x4/")
        ->required()
        ->check(CLI::ExistingDirectory);
    cmd->add_option("-s,--scale", o.scale, "Scale 2, 3 or 4 (default: the model's; the default model is x4)")
        ->check(CLI::IsMember({2, 3, 4}));
    CLI::Option* model =
        cmd->add_option("-m,--model", o.model, "Model file (.safetensors)")->check(CLI::ExistingFile);
    cmd->add_option("-n,--model-name", o.model_name, "Built-in model by name (default: the built-in one of -s)")
        ->excludes(model);
    cmd->add_option("--device", o.device, "auto, cpu or cuda")
        ->check(CLI::IsMember({"auto", "cpu", "cuda"}))
        ->capture_default_str();
    cmd->add_option("--gpu", o.gpu, "CUDA device index")->capture_default_str();
    cmd->add_option("--json", o.json, "Write the per-image results and means as JSON");
    cmd->add_flag("-x,--tta", o.tta, "TTA: average the network's results on the 8 flips/rotations of the input (8x slower)");
}

void add_bench(CLI::App& app, nalasr::cli::BenchOptions& o) {
    CLI::App* cmd = app.add_subcommand(
        "bench", "Peak memory and time over input sizes x attention kinds x devices; the largest input (--max)");
    cmd->add_option("--device", o.devices, "Devices, comma-separated: auto, cpu, cuda")->capture_default_str();
    cmd->add_option("--attention", o.attention, "Attention kinds, comma-separated: nala, pola, softmax")
        ->capture_default_str();
    cmd->add_option("--sizes", o.sizes, "Input sizes, e.g. 64,265,960x540 (default: 64 ... 265 ... 960x540 ... 8192)");
    CLI::Option* model = cmd->add_option("-m,--model", o.model,
                                         "Model file: its config and weights (default: random weights, default config)")
                             ->check(CLI::ExistingFile);
    cmd->add_option("-n,--model-name", o.model_name, "Built-in model by name instead of -m (see `nalasr info`)")
        ->excludes(model);
    cmd->add_option("--out", o.out, "Folder for bench.csv, bench.json and the plot bench.{png,svg,gnuplot}");
    cmd->add_option("--gpu", o.gpu, "CUDA device index")->capture_default_str();
    cmd->add_option("--threads", o.threads, "CPU threads (0: all cores)")->check(CLI::NonNegativeNumber)->capture_default_str();
    cmd->add_option("--warmup", o.warmup, "Untimed runs per point")->check(CLI::NonNegativeNumber)->capture_default_str();
    cmd->add_option("--repeats", o.repeats, "Timed runs per point (the median is reported)")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    cmd->add_option("--max-seconds", o.max_seconds,
                    "Skip a point whose run is estimated longer than this; stop repeating once a point took it "
                    "(default 60, 20 with --quick; 0: no limit)")
        ->check(CLI::Range(0.0, 86400.0));
    cmd->add_flag("--quick", o.quick, "Sizes 64, 265, 960x540, 2048 only (about a minute on a GPU)");
    cmd->add_flag("--max", o.max, "Only find the largest square input per attention kind (memory planner)");
    cmd->add_flag("--verify", o.verify, "With --max: run that largest input once on each CUDA device");
    cmd->add_flag("--no-plot", o.no_plot, "Write CSV and JSON but do not run gnuplot");
    cmd->footer("A point is run when the planner says it fits and its time estimate is within --max-seconds;\n"
                "otherwise the planner's figure is reported (softmax beyond what fits: 'would need ...').\n"
                "Exit codes: 0 done; 1 some point failed or a --verify run failed; 2 usage or setup error;\n"
                "            128 + signal when interrupted (130 Ctrl-C).");
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
    BenchOptions bench;
    add_upscale(app, upscale);
    add_eval(app, eval);
    add_bench(app, bench);
    app.add_subcommand("info", "Version, CUDA support, GPUs, built-in models and models found on disk");

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int code = app.exit(e);  // prints help, version or the error
        return code == 0 ? kExitOk : kExitSetup;
    }
    if (app.got_subcommand("upscale")) return run_upscale(upscale);
    if (app.got_subcommand("eval")) return run_eval(eval);
    if (app.got_subcommand("bench")) return run_bench(bench);
    return run_info();
}
