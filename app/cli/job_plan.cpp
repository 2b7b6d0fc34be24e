#include "job_plan.h"

#include <algorithm>
#include <set>

namespace nalasr::cli {
namespace fs = std::filesystem;
namespace {

bool has_image_extension(const fs::path& path) {
    return image_format_from_extension(path.extension().string()) != ImageFormat::Unknown;
}

// Same file on disk, or (for paths that do not exist yet) the same normalised absolute path.
bool same_file(const fs::path& a, const fs::path& b) {
    std::error_code ec;
    if (fs::exists(a, ec) && fs::exists(b, ec)) return fs::equivalent(a, b, ec);
    return fs::absolute(a, ec).lexically_normal() == fs::absolute(b, ec).lexically_normal();
}

// The output file name for an input: {stem}_x{scale}.{ext}; ext from -f or the input's own extension.
std::string output_name(const fs::path& input, int scale, ImageFormat format, ImageFormat* chosen) {
    std::string extension = input.extension().string();
    ImageFormat input_format = image_format_from_extension(extension);
    if (format == ImageFormat::Unknown) {
        *chosen = input_format != ImageFormat::Unknown ? input_format : ImageFormat::Png;
        if (input_format == ImageFormat::Unknown) extension = ".png";
    } else {
        *chosen = format;
        extension = std::string(".") + image_format_name(format);
    }
    return input.stem().string() + "_x" + std::to_string(scale) + extension;
}

}  // namespace

std::vector<fs::path> images_in_folder(const fs::path& folder) {
    std::vector<fs::path> files;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(folder, ec)) {
        const std::string name = entry.path().filename().string();
        if (entry.is_regular_file(ec) && !name.empty() && name[0] != '.' && has_image_extension(entry.path()))
            files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    return files;
}

Plan plan_jobs(const PlanRequest& request) {
    Plan plan;
    std::error_code ec;
    if (request.inputs.empty()) {
        plan.error = "no input given";
        return plan;
    }
    std::vector<fs::path> files;
    bool any_folder = false;
    for (const fs::path& input : request.inputs) {
        if (fs::is_directory(input, ec)) {
            any_folder = true;
            const auto found = images_in_folder(input);
            files.insert(files.end(), found.begin(), found.end());
        } else {
            files.push_back(input);  // a missing or unreadable file is reported when it is loaded
        }
    }

    // A single input file with an image-file OUT (not an existing folder) writes exactly that file.
    const bool single_file = !any_folder && files.size() == 1 && has_image_extension(request.output) &&
                             !fs::is_directory(request.output, ec);
    if (!single_file) {
        const bool names_a_file = fs::exists(request.output, ec) ? !fs::is_directory(request.output, ec)
                                                                 : has_image_extension(request.output);
        if (names_a_file) {
            plan.error = request.output.string() + " names a file; with several inputs or a folder, -o must be a folder";
            return plan;
        }
        plan.output_folder = request.output;
    }

    std::set<fs::path> planned;
    for (const fs::path& input : files) {
        Job job;
        job.input = input;
        fs::path output;
        if (single_file) {
            output = request.output;
            job.format = request.format != ImageFormat::Unknown
                             ? request.format
                             : image_format_from_extension(output.extension().string());
        } else {
            output = plan.output_folder / output_name(input, request.scale, request.format, &job.format);
            // Two inputs mapping to one name (a.jpg, a.png with -f png): number the later ones.
            for (int n = 2; planned.count(output.lexically_normal()); ++n) {
                fs::path renamed = output;
                renamed.replace_filename(output.stem().string() + "-" + std::to_string(n) + output.extension().string());
                if (!planned.count(renamed.lexically_normal())) {
                    job.note = "name collision, writing " + renamed.filename().string();
                    output = renamed;
                }
            }
        }
        const bool onto_input = std::any_of(files.begin(), files.end(), [&](const fs::path& f) { return same_file(f, output); });
        if (onto_input) {
            job.error = "the output " + output.string() + " would overwrite an input";
        } else if (!request.overwrite && fs::exists(output, ec)) {
            job.error = output.string() + " already exists (use --overwrite to replace it)";
        } else {
            job.output = output;
        }
        planned.insert(output.lexically_normal());
        plan.jobs.push_back(std::move(job));
    }
    return plan;
}

}  // namespace nalasr::cli
