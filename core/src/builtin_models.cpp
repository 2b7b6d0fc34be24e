// The models compiled into the library (embedded_models.h): listing them, loading one by name, and picking the one
// for a scale and attention kind.
#include <nlohmann/json.hpp>

#include "embedded_models.h"
#include "nalasr/model.h"
#include "safetensors.h"

namespace nalasr {
namespace {

const detail::EmbeddedModel* find_embedded(const std::string& name) {
    for (const detail::EmbeddedModel& model : detail::embedded_models())
        if (name == model.name) return &model;
    return nullptr;
}

std::string builtin_names() {
    std::string names;
    for (const detail::EmbeddedModel& model : detail::embedded_models())
        names += (names.empty() ? "" : ", ") + std::string(model.name);
    return names.empty() ? "none (this build embeds no model)" : names;
}

std::optional<double> provenance_number(const nlohmann::json& provenance, const char* key) {
    if (!provenance.is_object()) return std::nullopt;
    auto it = provenance.find(key);
    if (it == provenance.end() || !it->is_number()) return std::nullopt;
    return it->get<double>();
}

// The info of one embedded file from its header; false when the header is not a valid model header (such a file
// still fails loudly in load_builtin, and tests/test_builtin_models.cpp checks that every embedded file is listed).
bool read_info(const detail::EmbeddedModel& embedded, BuiltinModelInfo* out) {
    safetensors::Parsed parsed;
    if (!safetensors::parse(embedded.bytes, embedded.size, embedded.name, &parsed)) return false;
    auto config = parsed.metadata.find("config");
    BuiltinModelInfo info;
    info.name = embedded.name;
    if (config == parsed.metadata.end() || !ModelConfig::from_json(config->second, &info.config)) return false;
    for (const auto& [tensor, entry] : parsed.tensors) {
        std::size_t count = 1;
        for (std::int64_t dim : entry.shape) count *= std::size_t(dim);
        info.parameter_count += count;
    }
    if (auto provenance = parsed.metadata.find("provenance"); provenance != parsed.metadata.end()) {
        const nlohmann::json json = nlohmann::json::parse(provenance->second, nullptr, /*allow_exceptions=*/false);
        info.psnr_set5 = provenance_number(json, "psnr_set5");
        info.psnr_set14 = provenance_number(json, "psnr_set14");
    }
    *out = std::move(info);
    return true;
}

}  // namespace

std::vector<BuiltinModelInfo> builtin_models() {
    std::vector<BuiltinModelInfo> models;
    for (const detail::EmbeddedModel& embedded : detail::embedded_models())
        if (BuiltinModelInfo info; read_info(embedded, &info)) models.push_back(std::move(info));
    return models;
}

Status builtin_model_name(int scale, AttentionKind kind, std::string* name) {
    const std::string preferred = std::string("nalasr_") + attention_kind_name(kind) + "_x" + std::to_string(scale);
    const std::vector<BuiltinModelInfo> models = builtin_models();
    const BuiltinModelInfo* match = nullptr;
    for (const BuiltinModelInfo& model : models) {
        if (model.config.scale != scale || model.config.attention != kind) continue;
        if (!match || model.name == preferred) match = &model;
    }
    if (!match)
        return {StatusCode::InvalidArgument, "no built-in x" + std::to_string(scale) + " " + attention_kind_name(kind) +
                                                 " model; built in: " + builtin_names()};
    *name = match->name;
    return Status::ok();
}

Status Model::load_builtin(const std::string& name, Model* out) {
    const detail::EmbeddedModel* embedded = find_embedded(name);
    if (!embedded)
        return {StatusCode::InvalidArgument, "no built-in model named '" + name + "'; built in: " + builtin_names()};
    return load_memory(embedded->bytes, embedded->size, name, out);
}

Status Model::load_default(Model* out) {
    if (!find_embedded(kDefaultModelName))
        return {StatusCode::IoError, std::string("no default model is embedded in this build (resources/models/") +
                                         kDefaultModelName + ".safetensors was missing at build time); pass a model "
                                         "file instead"};
    return load_builtin(kDefaultModelName, out);
}

}  // namespace nalasr
