#include "batch_runner.h"

#include <cstdio>
#include <future>
#include <optional>
#include <string>

#include "progress_display.h"

namespace nalasr::cli {
namespace {

using Bytes = std::vector<std::uint8_t>;

// A job after the load stage: the decoded input, or a result that already says why it failed.
struct Loaded {
    FileResult result;
    Image image;
};

// An image after the engine, waiting to be written.
struct Upscaled {
    FileResult result;
    Image image;
    ImageFormat format = ImageFormat::Png;
};

// Every failure is reported as "INPUT: reason"; load_image's messages already start with the input's path.
Status about_input(const std::string& input, const Status& st) {
    if (st.message().rfind(input, 0) == 0) return st;
    return {st.code(), input + ": " + st.message()};
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

Loaded load_stage(const Job& job, int scale, const BatchSettings& settings) {
    Loaded loaded;
    FileResult& r = loaded.result;
    r.input = job.input.string();
    r.output = job.output.string();
    if (!job.error.empty()) {
        r.status = {StatusCode::InvalidArgument, r.input + ": " + job.error};
        return loaded;
    }
    if (!job.note.empty()) r.warnings.push_back(job.note);
    LoadOptions options;
    options.max_pixels = settings.max_pixels;
    LoadInfo info;
    if (auto st = load_image(job.input, &loaded.image, options, &info); !st) {
        r.status = st;
        return loaded;
    }
    r.warnings.insert(r.warnings.end(), info.warnings.begin(), info.warnings.end());
    r.width_in = loaded.image.width;
    r.height_in = loaded.image.height;
    // Refuse sizes the output format cannot hold before spending any compute on them.
    const long long out_w = 1LL * r.width_in * scale, out_h = 1LL * r.height_in * scale;
    const int max_side = max_image_side(job.format);
    if (out_w > max_side || out_h > max_side) {
        r.status = {StatusCode::InvalidArgument, r.input + ": the output would be " + std::to_string(out_w) + "x" +
                                                     std::to_string(out_h) + ", more than " +
                                                     image_format_name(job.format) + " can hold (" +
                                                     std::to_string(max_side) + " px a side); choose -f png or tiff"};
        loaded.image = Image();
        return loaded;
    }
    add_format_warnings(loaded.image, job.format, &r.warnings);
    return loaded;
}

FileResult save_stage(Upscaled up, const BatchSettings& settings) {
    SaveOptions options;
    options.format = up.format;
    if (settings.quality > 0) options.jpeg_quality = options.webp_quality = settings.quality;
    if (auto st = save_image(up.result.output, up.image, options); !st) up.result.status = about_input(up.result.input, st);
    return std::move(up.result);
}

}  // namespace

void run_batch(const std::vector<Job>& jobs, const Engine& engine, const BatchSettings& settings,
               const std::function<bool()>& should_stop, const std::function<void(FileResult)>& done) {
    const int scale = engine.config().scale;
    auto start_load = [&](std::size_t i) {
        return std::async(std::launch::async, load_stage, std::cref(jobs[i]), scale, std::cref(settings));
    };
    std::future<Loaded> next_load = start_load(0);
    std::future<FileResult> saving;  // the previous image's write

    for (std::size_t i = 0; i < jobs.size() && !should_stop(); ++i) {
        Loaded current = next_load.get();
        if (i + 1 < jobs.size()) next_load = start_load(i + 1);

        std::optional<Upscaled> upscaled;
        if (current.result.status) {
            char counter[48];
            std::snprintf(counter, sizeof(counter), "[%zu/%zu] ", i + 1, jobs.size());
            ProgressDisplay progress(stderr, stderr_is_terminal(), counter + jobs[i].input.filename().string());
            UpscaleParams params;
            params.progress = [&](double fraction, const char* stage) { progress.update(fraction, stage); };
            params.should_abort = should_stop;
            Upscaled up{std::move(current.result), Image(), jobs[i].format};
            Status st = engine.upscale(current.image, &up.image, params, &up.result.stats);
            progress.finish();
            if (st) {
                // ICC and EXIF travel from the input to the output file unless asked otherwise.
                up.image.icc_profile = settings.strip_metadata ? Bytes() : current.image.icc_profile;
                up.image.exif = settings.strip_metadata ? Bytes() : current.image.exif;
                up.result.width_out = up.image.width;
                up.result.height_out = up.image.height;
                upscaled = std::move(up);
            } else {
                up.result.status = about_input(up.result.input, st);
                current.result = std::move(up.result);
            }
        }
        if (saving.valid()) done(saving.get());  // keeps results in job order
        if (upscaled) saving = std::async(std::launch::async, save_stage, std::move(*upscaled), std::cref(settings));
        else done(std::move(current.result));
    }
    if (saving.valid()) done(saving.get());
    // A prefetched load that will not be used finishes in the future's destructor.
}

}  // namespace nalasr::cli
