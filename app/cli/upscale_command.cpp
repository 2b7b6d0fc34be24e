#include "upscale_command.h"

#include <chrono>
#include <cstdio>
#include <memory>

#include "exit_codes.h"
#include "interrupt.h"
#include "job_plan.h"
#include "model_select.h"
#include "nalasr/engine.h"
#include "progress_display.h"
#include "run_report.h"
#include "text_format.h"

namespace nalasr::cli {
namespace fs = std::filesystem;
namespace {

int setup_error(const std::string& message) {
    std::fprintf(stderr, "nalasr: error: %s\n", message.c_str());
    return kExitSetup;
}

// Messages from load/save already start with the path; others get the input's name in front.
Status about_input(const fs::path& input, const Status& st) {
    if (st.message().rfind(input.string(), 0) == 0) return st;
    return {st.code(), input.string() + ": " + st.message()};
}

SaveOptions save_options(const UpscaleOptions& options, ImageFormat format) {
    SaveOptions save;
    save.format = format;
    if (options.quality > 0) {
        save.jpeg_quality = options.quality;
        save.webp_quality = options.quality;
    }
    return save;
}

// Warnings about what the output format cannot keep.
void add_format_warnings(const Image& in, ImageFormat format, std::vector<std::string>* warnings) {
    const bool keeps_alpha = format == ImageFormat::Png || format == ImageFormat::Tiff || format == ImageFormat::Webp;
    if (in.has_alpha() && !keeps_alpha)
        warnings->push_back(std::string("alpha channel dropped: ") + image_format_name(format) + " has no alpha");
    if (in.type != SampleType::U8 && format != ImageFormat::Png && format != ImageFormat::Tiff)
        warnings->push_back(std::string(sample_type_name(in.type)) + " samples reduced to 8 bits for " +
                            image_format_name(format));
    if (in.type == SampleType::F32 && format == ImageFormat::Png)
        warnings->push_back("float samples stored as 16-bit PNG (use tiff to keep float)");
}

FileResult process(const Job& job, const Engine& engine, const UpscaleOptions& options, const std::string& label) {
    FileResult result;
    result.input = job.input.string();
    result.output = job.output.string();
    if (!job.error.empty()) {
        result.status = {StatusCode::InvalidArgument, job.input.string() + ": " + job.error};
        return result;
    }
    if (!job.note.empty()) result.warnings.push_back(job.note);

    Image in;
    LoadOptions load;
    load.max_pixels = options.max_pixels;
    LoadInfo info;
    if (auto st = load_image(job.input, &in, load, &info); !st) {
        result.status = st;
        return result;
    }
    result.warnings.insert(result.warnings.end(), info.warnings.begin(), info.warnings.end());
    const int scale = engine.config().scale;
    result.width_in = in.width;
    result.height_in = in.height;
    // Refuse sizes the output format cannot hold before spending any compute on them.
    const long long out_w = 1LL * in.width * scale, out_h = 1LL * in.height * scale;
    if (out_w > max_image_side(job.format) || out_h > max_image_side(job.format)) {
        result.status = {StatusCode::InvalidArgument,
                         job.input.string() + ": the output would be " + std::to_string(out_w) + "x" +
                             std::to_string(out_h) + ", more than " + image_format_name(job.format) + " can hold (" +
                             std::to_string(max_image_side(job.format)) + " px a side); choose -f png or tiff"};
        return result;
    }
    add_format_warnings(in, job.format, &result.warnings);

    ProgressDisplay progress(stderr, stderr_is_terminal(), label);
    UpscaleParams params;
    params.progress = [&](double fraction, const char* stage) { progress.update(fraction, stage); };
    params.should_abort = interrupt_requested;
    Image out;
    Status st = engine.upscale(in, &out, params, &result.stats);
    progress.finish();
    if (!st) {
        result.status = about_input(job.input, st);
        return result;
    }
    if (out.icc_profile.empty()) out.icc_profile = in.icc_profile;
    if (out.exif.empty()) out.exif = in.exif;
    result.width_out = out.width;
    result.height_out = out.height;
    if (auto saved = save_image(job.output, out, save_options(options, job.format)); !saved) result.status = saved;
    return result;
}

void print_result(const FileResult& r) {
    for (const std::string& warning : r.warnings) std::fprintf(stderr, "warning: %s: %s\n", r.input.c_str(), warning.c_str());
    if (!r.status) {
        std::fprintf(stderr, "error: %s\n", about_input(r.input, r.status).message().c_str());
        return;
    }
    const UpscaleStats& s = r.stats;
    std::printf("ok: %s -> %s  %dx%d -> %dx%d, %zu tokens, %s; memory planned %s, observed %s, peak RSS %s\n",
                r.input.c_str(), r.output.c_str(), r.width_in, r.height_in, r.width_out, r.height_out, s.tokens,
                format_duration(s.total_ms / 1000).c_str(), format_bytes(s.planned_peak_bytes).c_str(),
                format_bytes(s.observed_peak_bytes).c_str(), format_bytes(s.peak_host_rss_bytes).c_str());
    std::fflush(stdout);
}

}  // namespace

int run_upscale(const UpscaleOptions& options) {
    const auto start = std::chrono::steady_clock::now();
    BackendKind backend = BackendKind::Auto;
    if (!parse_backend_kind(options.device, &backend)) return setup_error("unknown --device '" + options.device + "'");
    ImageFormat format = ImageFormat::Unknown;
    if (!options.format.empty()) {
        format = image_format_from_extension(options.format);
        if (format == ImageFormat::Unknown) return setup_error("unknown format '" + options.format + "'");
    }

    RunSummary summary;
    Model model;
    if (auto st = select_model(options.model, options.scale, &model, &summary.model_source); !st)
        return setup_error(st.message());
    summary.model = &model;

    PlanRequest request{options.inputs, options.output, model.config().scale, format, options.overwrite};
    Plan plan = plan_jobs(request);
    if (!plan.error.empty()) return setup_error(plan.error);
    if (plan.jobs.empty()) return setup_error("no images found in the input folder(s)");

    EngineParams engine_params;
    engine_params.backend = backend;
    engine_params.gpu_index = options.gpu;
    std::unique_ptr<Engine> engine;
    if (auto st = Engine::create(model, engine_params, &engine); !st) return setup_error(st.message());
    summary.backend = engine->backend_name();
    std::fprintf(stderr, "nalasr: %s (x%d, %s), running on %s\n", summary.model_source.c_str(), model.config().scale,
                 attention_kind_name(model.config().attention), summary.backend.c_str());

    if (!plan.output_folder.empty()) {
        std::error_code ec;
        fs::create_directories(plan.output_folder, ec);
        if (ec) return setup_error("cannot create " + plan.output_folder.string() + " (" + ec.message() + ")");
    }

    install_interrupt_handler();
    for (std::size_t i = 0; i < plan.jobs.size(); ++i) {
        if (interrupt_requested()) break;
        char counter[48];
        std::snprintf(counter, sizeof(counter), "[%zu/%zu] ", i + 1, plan.jobs.size());
        const std::string label = counter + plan.jobs[i].input.filename().string();
        summary.files.push_back(process(plan.jobs[i], *engine, options, label));
        print_result(summary.files.back());
    }
    summary.interrupted = interrupt_requested();
    summary.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    std::printf("%zu file(s): %d ok, %d failed%s; %s\n", summary.files.size(), summary.succeeded(), summary.failed(),
                summary.interrupted ? ", interrupted (Ctrl-C)" : "", format_duration(summary.wall_seconds).c_str());
    if (!options.report.empty()) {
        if (auto st = write_report(options.report, summary); !st) {
            std::fprintf(stderr, "nalasr: error: %s\n", st.message().c_str());
            return kExitSetup;
        }
    }
    if (summary.interrupted) return kExitInterrupted;
    return summary.failed() > 0 ? kExitSomeFailed : kExitOk;
}

}  // namespace nalasr::cli
