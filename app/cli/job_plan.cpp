#include "job_plan.h"

#include <sys/stat.h>

#include <set>
#include <utility>

namespace nalasr::cli {
namespace fs = std::filesystem;
namespace {

bool has_image_extension(const fs::path& path) {
    return image_format_from_extension(path.extension().string()) != ImageFormat::Unknown;
}

// The inputs, to refuse an output that would land on one of them: by device and inode for files that exist
// (catches symlinks and hard links), by normalised absolute path otherwise. One lookup per output, so that
// planning stays linear in the number of files.
class InputSet {
public:
    explicit InputSet(const std::vector<InputFile>& files) {
        for (const InputFile& f : files) {
            if (struct stat st; ::stat(f.path.c_str(), &st) == 0) inodes_.insert({st.st_dev, st.st_ino});
            paths_.insert(normal(f.path));
        }
    }
    bool contains(const fs::path& path) const {
        if (struct stat st; ::stat(path.c_str(), &st) == 0) return inodes_.count({st.st_dev, st.st_ino}) > 0;
        return paths_.count(normal(path)) > 0;
    }

private:
    static fs::path normal(const fs::path& p) {
        std::error_code ec;
        return fs::absolute(p, ec).lexically_normal();
    }
    std::set<std::pair<dev_t, ino_t>> inodes_;
    std::set<fs::path> paths_;
};

// The output file name for an input: the pattern's stem plus the extension of -f or of the input itself.
std::string output_name(const fs::path& input, const PlanRequest& request, ImageFormat* chosen) {
    std::string extension = input.extension().string();
    const ImageFormat input_format = image_format_from_extension(extension);
    if (request.format == ImageFormat::Unknown) {
        *chosen = input_format != ImageFormat::Unknown ? input_format : ImageFormat::Png;
        if (input_format == ImageFormat::Unknown) extension = ".png";
    } else {
        *chosen = request.format;
        extension = std::string(".") + image_format_name(request.format);
    }
    const std::string input_extension = input.extension().string();
    const std::string stem = expand_name_pattern(request.name_pattern, input.stem().string(), request.scale,
                                                 input_extension.empty() ? "" : input_extension.substr(1));
    return stem + extension;
}

// Two inputs mapping to one name (a.jpg, a.png with -f png): the later ones get -2, -3, ...
fs::path unique_output(const fs::path& output, const std::set<fs::path>& planned, std::string* note) {
    if (!planned.count(output.lexically_normal())) return output;
    for (int n = 2;; ++n) {
        fs::path renamed = output;
        renamed.replace_filename(output.stem().string() + "-" + std::to_string(n) + output.extension().string());
        if (!planned.count(renamed.lexically_normal())) {
            *note = "name collision, writing " + renamed.filename().string();
            return renamed;
        }
    }
}

}  // namespace

Plan plan_jobs(const PlanRequest& request) {
    Plan plan;
    std::error_code ec;
    if (request.inputs.empty()) {
        plan.error = "no input given";
        return plan;
    }
    if (std::string why = check_name_pattern(request.name_pattern); !why.empty()) {
        plan.error = why;
        return plan;
    }
    InputListing listing = list_inputs(request.inputs, request.recursive, request.output);
    plan.warnings = std::move(listing.warnings);
    // The output of a file may collide with any input, even one in another shard: check against all of them.
    const std::vector<InputFile>& all_files = listing.files;
    const std::vector<InputFile> files = select_shard(all_files, request.shard);

    // A single input file with an image-file OUT (not an existing folder) writes exactly that file.
    const bool single_file = !listing.any_folder && all_files.size() == 1 && has_image_extension(request.output) &&
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

    const InputSet inputs(all_files);
    std::set<fs::path> planned;
    for (const InputFile& file : files) {
        Job job;
        job.input = file.path;
        fs::path output;
        if (single_file) {
            output = request.output;
            job.format = request.format != ImageFormat::Unknown
                             ? request.format
                             : image_format_from_extension(output.extension().string());
        } else {
            output = plan.output_folder / file.subfolder / output_name(file.path, request, &job.format);
            output = unique_output(output, planned, &job.note);
        }
        if (inputs.contains(output)) {
            job.error = "the output " + output.string() + " would overwrite an input";
        } else if (fs::exists(output, ec) && request.skip_existing) {
            job.skip = true;
            job.output = output;
        } else if (fs::exists(output, ec) && !request.overwrite) {
            job.error = output.string() + " already exists (use --overwrite to replace it, --skip-existing to skip it)";
        } else {
            job.output = output;
        }
        planned.insert(output.lexically_normal());
        plan.jobs.push_back(std::move(job));
    }
    return plan;
}

}  // namespace nalasr::cli
