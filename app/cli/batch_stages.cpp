#include "batch_stages.h"

#include <chrono>
#include <filesystem>
#include <string>

#include "text_format.h"

namespace nalasr::cli {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;
using Clock = std::chrono::steady_clock;

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

}  // namespace

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
    long long out_w = 0, out_h = 0;
    final_output_size(settings.output_size, r.width_in, r.height_in, scale, &out_w, &out_h);
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

Upscaled engine_stage(const Loaded& in, const Job& job, const Engine& engine, const BatchSettings& settings,
                      const UpscaleParams& params) {
    Upscaled up{in.result, Image(), job.format};
    FileResult& r = up.result;
    if (settings.max_memory > 0) {
        const std::size_t planned = engine.predict_upscale_peak_bytes(in.image.width, in.image.height, params);
        if (planned > settings.max_memory) {
            r.status = {StatusCode::OutOfMemory, r.input + ": needs " + format_bytes(planned) +
                                                     " of working memory, more than --max-memory " +
                                                     format_bytes(settings.max_memory)};
            return up;
        }
    }
    // The engine's stats replace the read stage's: keep its time.
    const std::vector<StageTime> read_stage = std::move(r.stats.stages);
    Status st = engine.upscale(in.image, &up.image, params, &r.stats);
    r.stats.stages.insert(r.stats.stages.begin(), read_stage.begin(), read_stage.end());
    // e.g. a half-precision result redone in float32 on the CPU: printed and reported like the file's own warnings
    r.warnings.insert(r.warnings.end(), r.stats.warnings.begin(), r.stats.warnings.end());
    if (!st) {
        r.status = about_input(r.input, st);
        up.does_not_fit = st.code() == StatusCode::OutOfMemory;
        return up;
    }
    if (settings.output_size.resamples()) {
        long long w = 0, h = 0;
        final_output_size(settings.output_size, in.image.width, in.image.height, engine.config().scale, &w, &h);
        if (w != up.image.width || h != up.image.height) {
            const auto start = Clock::now();
            if (Status resized = resize_image(up.image, int(w), int(h), &up.image); !resized) {
                r.status = about_input(r.input, resized);
                return up;
            }
            r.stats.stages.push_back({"resize", ms_since(start)});
        }
    }
    // ICC and EXIF travel from the input to the output file unless asked otherwise.
    up.image.icc_profile = settings.strip_metadata ? Bytes() : in.image.icc_profile;
    up.image.exif = settings.strip_metadata ? Bytes() : in.image.exif;
    r.width_out = up.image.width;
    r.height_out = up.image.height;
    return up;
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

}  // namespace nalasr::cli
