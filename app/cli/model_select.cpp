#include "model_select.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <set>

namespace nalasr::cli {
namespace fs = std::filesystem;
namespace {

fs::path executable_folder() {
    std::error_code ec;
    fs::path self = fs::read_symlink("/proc/self/exe", ec);
    return ec ? fs::path() : self.parent_path();
}

std::string bundled_name(int scale) { return "nalasr_nala_x" + std::to_string(scale) + ".safetensors"; }

Status check_scale(const Model& model, int scale, const std::string& source) {
    if (scale != 0 && model.config().scale != scale)
        return {StatusCode::InvalidArgument, source + " is a x" + std::to_string(model.config().scale) +
                                                 " model but -s " + std::to_string(scale) + " was asked for"};
    return Status::ok();
}

}  // namespace

std::vector<fs::path> model_folders() {
    std::vector<fs::path> candidates;
    if (const char* env = std::getenv("NALASR_MODELS_DIR"); env && *env) candidates.emplace_back(env);
    candidates.emplace_back(NALASR_SOURCE_MODELS_DIR);
    if (fs::path exe = executable_folder(); !exe.empty()) candidates.push_back(exe.parent_path() / "share/nalasr/models");
    candidates.emplace_back(NALASR_INSTALL_MODELS_DIR);

    std::vector<fs::path> folders;
    std::set<fs::path> seen;
    std::error_code ec;
    for (const fs::path& folder : candidates) {
        if (!fs::is_directory(folder, ec)) continue;
        fs::path canonical = fs::canonical(folder, ec);
        if (seen.insert(canonical).second) folders.push_back(canonical);
    }
    return folders;
}

std::vector<fs::path> available_model_files() {
    std::vector<fs::path> files;
    std::error_code ec;
    for (const fs::path& folder : model_folders()) {
        for (const auto& entry : fs::directory_iterator(folder, ec))
            if (entry.path().extension() == ".safetensors") files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    return files;
}

Status select_model(const fs::path& model_file, int scale, Model* out, std::string* source) {
    if (!model_file.empty()) {
        *source = model_file.string();
        if (auto st = Model::load_file(model_file, out); !st) return st;
        return check_scale(*out, scale, *source);
    }
    // The compiled-in default model, when it has the scale asked for.
    Model embedded;
    Status embedded_status = Model::load_default(&embedded);
    if (embedded_status && (scale == 0 || embedded.config().scale == scale)) {
        *source = "default model (built in)";
        *out = std::move(embedded);
        return Status::ok();
    }
    const int wanted = scale != 0 ? scale : 4;
    std::string looked_in;
    for (const fs::path& folder : model_folders()) {
        const fs::path candidate = folder / bundled_name(wanted);
        std::error_code ec;
        if (fs::exists(candidate, ec)) {
            *source = candidate.string();
            if (auto st = Model::load_file(candidate, out); !st) return st;
            return check_scale(*out, scale, *source);
        }
        looked_in += (looked_in.empty() ? "" : ", ") + folder.string();
    }
    std::string message = "no x" + std::to_string(wanted) + " model found (looked for " + bundled_name(wanted) +
                          " in " + (looked_in.empty() ? std::string("no existing model folder") : looked_in) + ")";
    if (!embedded_status) message += "; " + embedded_status.message();
    return {StatusCode::IoError, message + "; pass one with -m"};
}

}  // namespace nalasr::cli
