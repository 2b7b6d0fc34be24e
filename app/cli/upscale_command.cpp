#include "upscale_command.h"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <memory>
#include <thread>

#include "batch_runner.h"
#include "exit_codes.h"
#include "gpu_list.h"
#include "interrupt.h"
#include "job_plan.h"
#include "model_select.h"
#include "output_folders.h"
#include "nalasr/engine.h"
#include "run_report.h"
#include "text_format.h"

namespace nalasr::cli {
namespace fs = std::filesystem;
namespace {

int setup_error(const std::string& message) {
    std::fprintf(stderr, "nalasr: error: %s\n", message.c_str());
    return kExitSetup;
}

void print_result(const FileResult& r) {
    for (const std::string& warning : r.warnings) std::fprintf(stderr, "warning: %s: %s\n", r.input.c_str(), warning.c_str());
    if (r.status.code() == StatusCode::Cancelled) {
        std::fprintf(stderr, "stopped: %s (nothing written; --skip-existing resumes here)\n", r.input.c_str());
        return;
    }
    if (!r.status) {
        std::fprintf(stderr, "error: %s\n", r.status.message().c_str());
        return;
    }
    if (r.skipped) {
        std::printf("skipped: %s -> %s (already there)\n", r.input.c_str(), r.output.c_str());
        std::fflush(stdout);
        return;
    }
    const UpscaleStats& s = r.stats;
    std::printf("ok: %s -> %s  %dx%d -> %dx%d, %zu tokens, %s; memory planned %s, observed %s, peak RSS %s\n",
                r.input.c_str(), r.output.c_str(), r.width_in, r.height_in, r.width_out, r.height_out, s.tokens,
                format_duration(s.total_ms / 1000).c_str(), format_bytes(s.planned_peak_bytes).c_str(),
                format_bytes(s.observed_peak_bytes).c_str(), format_bytes(s.peak_host_rss_bytes).c_str());
    std::fflush(stdout);
}

// The CUDA devices of -g (indices or names), which implies --device cuda; without -g, device 0 of --device. Returns an error text.
std::string choose_gpus(const UpscaleOptions& options, BackendKind* backend, std::vector<int>* gpus) {
    if (options.gpus.empty()) {
        *gpus = {0};
        return "";
    }
    std::vector<GpuChoice> choices;
    if (std::string why = parse_gpu_list(options.gpus, &choices); !why.empty()) return why;
    if (*backend == BackendKind::Cpu) return "-g/--gpu picks CUDA devices; it cannot be combined with --device cpu";
    *backend = BackendKind::Cuda;
    return resolve_gpus(choices, list_gpus(), cuda_compiled(), gpus);
}

}  // namespace

int default_jobs() {
    const int cores = int(std::thread::hardware_concurrency());  // 0 when unknown
    return std::clamp(cores, 2, 16);
}

int run_upscale(const UpscaleOptions& options) {
    const auto start = std::chrono::steady_clock::now();
    BackendKind backend = BackendKind::Auto;
    if (!parse_backend_kind(options.device, &backend)) return setup_error("unknown --device '" + options.device + "'");
    std::vector<int> gpus;
    if (std::string why = choose_gpus(options, &backend, &gpus); !why.empty()) return setup_error(why);
    ImageFormat format = ImageFormat::Unknown;
    if (!options.format.empty()) {
        format = image_format_from_extension(options.format);
        if (format == ImageFormat::Unknown) return setup_error("unknown format '" + options.format + "'");
    }

    if (options.overwrite && options.skip_existing) return setup_error("--overwrite and --skip-existing exclude each other");
    if (std::string why = check_output_size(options.output_size); !why.empty()) return setup_error(why);
    Shard shard;
    if (!options.shard.empty())
        if (std::string why = parse_shard(options.shard, &shard); !why.empty()) return setup_error(why);
    BatchSettings settings{.max_pixels = options.max_pixels,
                           .quality = options.quality,
                           .strip_metadata = options.strip_metadata,
                           .workers = options.jobs > 0 ? options.jobs : default_jobs(),
                           .output_size = options.output_size,
                           .keep_colours = options.keep_colours,
                           .tta = options.tta};
    if (!options.max_memory.empty() && !parse_byte_size(options.max_memory, &settings.max_memory))
        return setup_error("--max-memory wants a size such as 6G or 512M, not '" + options.max_memory + "'");

    if (const fs::path folder = options.report.parent_path(); !options.report.empty() && !folder.empty()) {
        std::error_code ec;
        if (!fs::is_directory(folder, ec)) return setup_error("the report's folder " + folder.string() + " does not exist");
    }

    RunSummary summary;
    Model model;
    // --outscale 1.5 with no model or scale named: the x2 model, then a shrink (see model_scale_for).
    const bool model_named = options.scale != 0 || !options.model.empty() || !options.model_name.empty();
    const int scale = !model_named && options.output_size.factor > 0 ? model_scale_for(options.output_size.factor)
                                                                     : options.scale;
    if (auto st = select_model({options.model, options.model_name, scale, options.attention}, &model,
                               &summary.model_source); !st)
        return setup_error(st.message());
    summary.model = &model;
    summary.keep_colours = options.keep_colours;
    summary.tta = options.tta;

    const PlanRequest request{.inputs = options.inputs,
                              .output = options.output,
                              .scale = scale_text(options.output_size, model.config().scale),
                              .format = format,
                              .overwrite = options.overwrite,
                              .skip_existing = options.skip_existing,
                              .recursive = options.recursive,
                              .name_pattern = options.name_pattern,
                              .shard = shard};
    Plan plan = plan_jobs(request);
    if (!plan.error.empty()) return setup_error(plan.error);
    for (const std::string& warning : plan.warnings) std::fprintf(stderr, "warning: %s\n", warning.c_str());
    if (plan.jobs.empty() && shard.count == 1) return setup_error("no images found in the input folder(s)");
    if (!options.shard.empty()) {
        summary.shard = options.shard;
        std::fprintf(stderr, "nalasr: shard %s: %zu file(s)\n", options.shard.c_str(), plan.jobs.size());
    }

    // One engine per device: each holds its own copy of the weights.
    std::vector<std::unique_ptr<Engine>> engines;
    std::vector<const Engine*> devices;
    for (int gpu : gpus) {
        EngineParams engine_params;
        engine_params.backend = backend;
        engine_params.gpu_index = gpu;
        std::unique_ptr<Engine> engine;
        if (auto st = Engine::create(model, engine_params, &engine); !st) return setup_error(st.message());
        summary.backend += (summary.backend.empty() ? "" : ", ") + engine->backend_name();
        devices.push_back(engine.get());
        engines.push_back(std::move(engine));
    }
    std::unique_ptr<Engine> cpu_fallback;
    if (options.cpu_fallback && summary.backend.rfind("cpu", 0) != 0) {
        EngineParams cpu_params;
        cpu_params.backend = BackendKind::Cpu;
        if (auto st = Engine::create(model, cpu_params, &cpu_fallback); !st) return setup_error(st.message());
        settings.cpu_fallback = cpu_fallback.get();
    }
    std::string why_cpu;  // say plainly when "auto" could not use a GPU
    if (backend == BackendKind::Auto && summary.backend.rfind("cpu", 0) == 0)
        why_cpu = cuda_compiled() ? " (no usable NVIDIA GPU found)" : " (this build has no CUDA backend)";
    std::fprintf(stderr, "nalasr: %s (x%d, %s), running on %s%s\n", summary.model_source.c_str(),
                 model.config().scale, attention_kind_name(model.config().attention), summary.backend.c_str(),
                 why_cpu.c_str());

    if (!plan.output_folder.empty())
        if (std::string why = prepare_output_folder(plan.output_folder); !why.empty()) return setup_error(why);
    if (int removed = remove_stale_temp_files(plan.jobs); removed > 0)
        std::fprintf(stderr, "nalasr: removed %d temporary file(s) left by an earlier run that was killed\n", removed);

    install_interrupt_handler();
    const auto batch_start = std::chrono::steady_clock::now();
    const std::vector<DeviceShare> shares =
        run_batch(plan.jobs, devices, settings, interrupt_requested, [&](FileResult result) {
            print_result(result);
            summary.files.push_back(std::move(result));
        });
    for (std::size_t d = 0; d < devices.size(); ++d) summary.devices.push_back({devices[d]->backend_name(), shares[d]});
    summary.interrupted = interrupt_requested();
    summary.not_started = int(plan.jobs.size() - summary.files.size());
    const auto end = std::chrono::steady_clock::now();
    summary.batch_seconds = std::chrono::duration<double>(end - batch_start).count();
    summary.wall_seconds = std::chrono::duration<double>(end - start).count();

    std::printf("%zu file(s): %d ok", summary.files.size(), summary.succeeded() - summary.skipped());
    if (summary.skipped() > 0) std::printf(", %d skipped (already there)", summary.skipped());
    std::printf(", %d failed", summary.failed());
    if (summary.cancelled() > 0) std::printf(", %d cancelled", summary.cancelled());
    if (summary.interrupted)
        std::printf(", interrupted (%s) with %d not started", interrupt_signal() == SIGTERM ? "SIGTERM" : "Ctrl-C",
                    summary.not_started);
    std::printf("; %s", format_duration(summary.wall_seconds).c_str());
    if (const std::string throughput = throughput_text(summary); !throughput.empty())
        std::printf("; %s", throughput.c_str());
    std::printf("\n");
    if (!options.report.empty()) {
        if (auto st = write_report(options.report, summary); !st) {
            std::fprintf(stderr, "nalasr: error: %s\n", st.message().c_str());
            return kExitSetup;
        }
    }
    if (summary.interrupted) return kExitSignalBase + interrupt_signal();
    return summary.failed() > 0 ? kExitSomeFailed : kExitOk;
}

}  // namespace nalasr::cli
