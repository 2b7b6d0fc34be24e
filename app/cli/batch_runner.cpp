#include "batch_runner.h"

#include <algorithm>
#include <chrono>
#include <deque>
#include <filesystem>
#include <future>
#include <string>

#include "progress_display.h"
#include "text_format.h"

namespace nalasr::cli {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;
using Clock = std::chrono::steady_clock;

// A job after the read stage: the decoded input, or a result that already says why it failed.
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

double ms_since(Clock::time_point start) { return std::chrono::duration<double, std::milli>(Clock::now() - start).count(); }

std::uintmax_t file_size_or_zero(const fs::path& path) {
    std::error_code ec;
    const std::uintmax_t size = fs::file_size(path, ec);
    return ec ? 0 : size;
}

// Every failure is reported as "INPUT: reason"; load_image's messages already start with the input's path.
Status about_input(const std::string& input, const Status& st) {
    if (st.message().rfind(input, 0) == 0) return st;
    return {st.code(), input + ": " + st.message()};
}

// Warnings about what the output format cannot keep.
void add_format_warnings(const Image& in, ImageFormat format, bool strip_metadata, std::vector<std::string>* warnings) {
    const bool keeps_alpha = format == ImageFormat::Png || format == ImageFormat::Tiff || format == ImageFormat::Webp;
    if (in.has_alpha() && !keeps_alpha)
        warnings->push_back(std::string("alpha channel dropped: ") + image_format_name(format) + " has no alpha");
    if (in.type != SampleType::U8 && format != ImageFormat::Png && format != ImageFormat::Tiff)
        warnings->push_back(std::string(sample_type_name(in.type)) + " samples reduced to 8 bits for " +
                            image_format_name(format));
    if (in.type == SampleType::F32 && format == ImageFormat::Png)
        warnings->push_back("float samples stored as 16-bit PNG (use tiff to keep float)");
    if (strip_metadata) return;
    // BMP holds no metadata; our TIFF writer keeps the ICC profile but not (yet) EXIF.
    if (!in.exif.empty() && (format == ImageFormat::Bmp || format == ImageFormat::Tiff))
        warnings->push_back(std::string("EXIF not kept: not written to ") + image_format_name(format) + " files");
    if (!in.icc_profile.empty() && format == ImageFormat::Bmp)
        warnings->push_back("ICC profile not kept: bmp has no place for it");
}

Loaded load_stage(const Job& job, int scale, const BatchSettings& settings) {
    const auto start = Clock::now();
    Loaded loaded;
    FileResult& r = loaded.result;
    r.input = job.input.string();
    r.output = job.output.string();
    if (!job.error.empty()) {
        r.status = {StatusCode::InvalidArgument, r.input + ": " + job.error};
        return loaded;
    }
    r.bytes_in = file_size_or_zero(job.input);
    if (job.skip) {
        r.skipped = true;
        r.bytes_out = file_size_or_zero(job.output);
        return loaded;
    }
    if (!job.note.empty()) r.warnings.push_back(job.note);
    LoadOptions options;
    options.max_pixels = settings.max_pixels;
    LoadInfo info;
    if (auto st = load_image(job.input, &loaded.image, options, &info); !st) {
        r.status = about_input(r.input, st);
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
    add_format_warnings(loaded.image, job.format, settings.strip_metadata, &r.warnings);
    r.stats.stages.push_back({"read", ms_since(start)});
    return loaded;
}

FileResult save_stage(Upscaled up, const BatchSettings& settings) {
    const auto start = Clock::now();
    FileResult& r = up.result;
    // --recursive mirrors the input's subfolders; each is created when its first file is written.
    std::error_code ec;
    const fs::path folder = fs::path(r.output).parent_path();
    if (!folder.empty() && !fs::is_directory(folder, ec) && !fs::create_directories(folder, ec) && ec) {
        r.status = {StatusCode::IoError, r.input + ": cannot create the folder " + folder.string() + " (" + ec.message() + ")"};
        return std::move(r);
    }
    SaveOptions options;
    options.format = up.format;
    if (settings.quality > 0) options.jpeg_quality = options.webp_quality = settings.quality;
    if (auto st = save_image(r.output, up.image, options); !st) r.status = about_input(r.input, st);
    if (r.status) r.bytes_out = file_size_or_zero(r.output);
    r.stats.stages.push_back({"write", ms_since(start)});
    return std::move(r);
}

std::future<FileResult> ready(FileResult result) {
    std::promise<FileResult> promise;
    promise.set_value(std::move(result));
    return promise.get_future();
}

// Runs the engine on one decoded image: the result to write, or the result that says why not. `on_progress`
// runs on this thread at each progress report (results of earlier files are printed from there).
std::future<FileResult> upscale_stage(Loaded current, const Job& job, const Engine& engine,
                                      const BatchSettings& settings, const std::function<bool()>& should_stop,
                                      ProgressDisplay* progress, const std::function<void()>& on_progress) {
    FileResult& r = current.result;
    if (settings.max_memory > 0) {
        const std::size_t planned = engine.predict_peak_bytes(current.image.width, current.image.height);
        if (planned > settings.max_memory) {
            r.status = {StatusCode::OutOfMemory, r.input + ": needs " + format_bytes(planned) +
                                                     " of working memory, more than --max-memory " +
                                                     format_bytes(settings.max_memory)};
            return ready(std::move(r));
        }
    }
    UpscaleParams params;
    params.progress = [&](double fraction, const char* stage) {
        on_progress();
        progress->update(fraction, stage);
    };
    params.should_abort = should_stop;
    Upscaled up{std::move(r), Image(), job.format};
    // The engine's stats replace the read stage's: keep its time.
    std::vector<StageTime> read_stage = std::move(up.result.stats.stages);
    Status st = engine.upscale(current.image, &up.image, params, &up.result.stats);
    progress->finish_file();
    up.result.stats.stages.insert(up.result.stats.stages.begin(), read_stage.begin(), read_stage.end());
    if (!st) {
        up.result.status = about_input(up.result.input, st);
        return ready(std::move(up.result));
    }
    // ICC and EXIF travel from the input to the output file unless asked otherwise.
    up.image.icc_profile = settings.strip_metadata ? Bytes() : std::move(current.image.icc_profile);
    up.image.exif = settings.strip_metadata ? Bytes() : std::move(current.image.exif);
    up.result.width_out = up.image.width;
    up.result.height_out = up.image.height;
    return std::async(std::launch::async, save_stage, std::move(up), std::cref(settings));
}

}  // namespace

void run_batch(const std::vector<Job>& jobs, const Engine& engine, const BatchSettings& settings,
               const std::function<bool()>& should_stop, const std::function<void(FileResult)>& done) {
    const int scale = engine.config().scale;
    const std::size_t workers = std::size_t(std::max(1, settings.workers));
    ProgressDisplay progress(stderr, stderr_is_terminal(), jobs.size());

    std::deque<std::future<Loaded>> loading;  // jobs [next_load - loading.size(), next_load)
    std::size_t next_load = 0;
    auto read_ahead = [&] {
        while (loading.size() < workers && next_load < jobs.size())
            loading.push_back(std::async(std::launch::async, load_stage, std::cref(jobs[next_load++]), scale,
                                         std::cref(settings)));
    };
    // Results in job order: writes in flight and results already known. Each gets its wall time at the end.
    std::deque<std::pair<std::future<FileResult>, Clock::time_point>> results;
    // Hands on the results that are ready, and waits for the oldest ones while more than `keep` are pending.
    auto report = [&](std::size_t keep) {
        while (results.size() > keep ||
               (!results.empty() && results.front().first.wait_for(std::chrono::seconds(0)) == std::future_status::ready)) {
            FileResult r = results.front().first.get();
            r.seconds = std::chrono::duration<double>(Clock::now() - results.front().second).count();
            results.pop_front();
            progress.clear();
            progress.file_reported();
            done(std::move(r));
        }
    };
    const std::function<void()> report_ready = [&] { report(results.size()); };

    for (std::size_t i = 0; i < jobs.size() && !should_stop(); ++i) {
        const auto start = Clock::now();
        read_ahead();
        Loaded current = loading.front().get();
        loading.pop_front();
        read_ahead();
        if (!current.result.status || current.result.skipped) {
            results.emplace_back(ready(std::move(current.result)), start);
        } else {
            const double megapixels = double(current.image.width) * current.image.height / 1e6;
            progress.start_file(i, jobs[i].input.filename().string(), megapixels);
            results.emplace_back(
                upscale_stage(std::move(current), jobs[i], engine, settings, should_stop, &progress, report_ready), start);
        }
        report(workers);  // at most `workers` writes in flight
    }
    report(0);
    // Images read ahead that will not be used are finished by the futures' destructors.
}

}  // namespace nalasr::cli
