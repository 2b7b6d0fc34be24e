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

bool is_builtin(const std::string& name) {
    const std::vector<BuiltinModelInfo> models = builtin_models();
    return std::any_of(models.begin(), models.end(), [&](const BuiltinModelInfo& m) { return m.name == name; });
}

// The first model folder holding `file_name`, or an empty path.
fs::path find_in_model_folders(const std::string& file_name) {
    std::error_code ec;
    for (const fs::path& folder : model_folders())
        if (fs::is_regular_file(folder / file_name, ec)) return folder / file_name;
    return {};
}

std::string model_folders_text() {
    std::string text;
    for (const fs::path& folder : model_folders()) text += (text.empty() ? "" : ", ") + folder.string();
    return text.empty() ? "no existing model folder" : text;
}

// The request's -s and --attention, checked against the model that was loaded.
Status check_request(const Model& model, const ModelRequest& request, const std::string& source) {
    const ModelConfig& config = model.config();
    if (request.scale != 0 && config.scale != request.scale)
        return {StatusCode::InvalidArgument, source + " is a x" + std::to_string(config.scale) + " model but -s " +
                                                 std::to_string(request.scale) + " was asked for"};
    if (!request.attention.empty() && request.attention != attention_kind_name(config.attention))
        return {StatusCode::InvalidArgument, source + " is a " + attention_kind_name(config.attention) +
                                                 " model but --attention " + request.attention + " was asked for"};
    return Status::ok();
}

Status load_builtin(const std::string& name, Model* out, std::string* source) {
    *source = name + " (built in)";
    return Model::load_builtin(name, out);
}

Status load_file(const fs::path& file, Model* out, std::string* source) {
    *source = file.string();
    return Model::load_file(file, out);
}

// -n NAME: a built-in model, else NAME.safetensors in a model folder.
Status load_named(const std::string& name, Model* out, std::string* source) {
    if (is_builtin(name)) return load_builtin(name, out, source);
    const std::string file_name = fs::path(name).extension() == ".safetensors" ? name : name + ".safetensors";
    if (fs::path file = find_in_model_folders(file_name); !file.empty()) return load_file(file, out, source);
    Model unused;
    return {StatusCode::InvalidArgument, Model::load_builtin(name, &unused).message() + "; and no " + file_name +
                                             " in " + model_folders_text() + " (see `nalasr info`)"};
}

// Neither -m nor -n: the built-in model of the scale and kind, else the bundled file's name in a model folder.
Status load_for_scale(int scale, AttentionKind kind, Model* out, std::string* source) {
    std::string name;
    const Status builtin = builtin_model_name(scale, kind, &name);
    if (builtin) return load_builtin(name, out, source);
    const std::string file_name =
        std::string("nalasr_") + attention_kind_name(kind) + "_x" + std::to_string(scale) + ".safetensors";
    if (fs::path file = find_in_model_folders(file_name); !file.empty()) return load_file(file, out, source);
    return {StatusCode::InvalidArgument, builtin.message() + "; and no " + file_name + " in " +
                                             model_folders_text() + "; pass a model file with -m"};
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

Status select_model(const ModelRequest& request, Model* out, std::string* source) {
    AttentionKind kind = AttentionKind::Nala;
    if (!request.attention.empty() && !parse_attention_kind(request.attention, &kind))
        return {StatusCode::InvalidArgument, "unknown attention kind '" + request.attention + "' (nala or pola)"};
    if (!request.file.empty() && !request.name.empty())
        return {StatusCode::InvalidArgument, "-m and -n both name a model; pass one of them"};

    Status st = !request.file.empty() ? load_file(request.file, out, source)
                : !request.name.empty() ? load_named(request.name, out, source)
                                        : load_for_scale(request.scale != 0 ? request.scale : 4, kind, out, source);
    if (!st) return st;
    return check_request(*out, request, *source);
}

}  // namespace nalasr::cli
