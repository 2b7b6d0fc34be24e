// Model: loading (with validation against the config), saving, random weights.
#include <cmath>
#include <random>

#include "nalasr/model.h"
#include "safetensors.h"

namespace nalasr {
namespace {

std::string config_summary(const ModelConfig& c) {
    return "C=" + std::to_string(c.channels) + ", heads=" + std::to_string(c.heads) + ", groups=" +
           std::to_string(c.groups) + ", blocks=" + std::to_string(c.blocks) + ", ffn_ratio=" +
           std::to_string(c.ffn_ratio) + ", scale=" + std::to_string(c.scale) + ", " + attention_kind_name(c.attention);
}

// Checks the file's tensors against expected_tensors(config); the first problem is reported.
Status check_tensors(const safetensors::Parsed& parsed, const ModelConfig& config, const std::string& name) {
    const auto expected = expected_tensors(config);
    for (const auto& [tensor, shape] : expected) {
        auto it = parsed.tensors.find(tensor);
        if (it == parsed.tensors.end())
            return {StatusCode::ModelMismatch,
                    name + ": tensor '" + tensor + "' is missing (the config (" + config_summary(config) + ") needs it)"};
        if (!safetensors::is_float_dtype(it->second.dtype))
            return {StatusCode::ModelMismatch, name + ": tensor '" + tensor + "' has dtype " + it->second.dtype +
                                                   " but the model needs F32, F16 or BF16"};
        if (it->second.shape != shape)
            return {StatusCode::ModelMismatch, name + ": tensor '" + tensor + "' has shape " +
                                                   safetensors::shape_string(it->second.shape) + " but the config (" +
                                                   config_summary(config) + ") needs " +
                                                   safetensors::shape_string(shape)};
    }
    if (parsed.tensors.size() != expected.size()) {
        for (const auto& [tensor, entry] : parsed.tensors) {
            bool known = false;
            for (const auto& e : expected) known = known || e.first == tensor;
            if (!known)
                return {StatusCode::ModelMismatch, name + ": unexpected tensor '" + tensor +
                                                       "' (not part of a NalaSR model with " + config_summary(config) +
                                                       ")"};
        }
    }
    return Status::ok();
}

}  // namespace

Status Model::load_memory(const std::uint8_t* bytes, std::size_t size, const std::string& name, Model* out) {
    safetensors::Parsed parsed;
    if (Status st = safetensors::parse(bytes, size, name, &parsed); !st) return st;
    auto config_it = parsed.metadata.find("config");
    if (config_it == parsed.metadata.end())
        return {StatusCode::ModelMismatch, name + ": no 'config' in __metadata__ (not a NalaSR model file?)"};
    ModelConfig config;
    if (Status st = ModelConfig::from_json(config_it->second, &config); !st) return {st.code(), name + ": " + st.message()};
    if (Status st = check_tensors(parsed, config, name); !st) return st;

    Model model;
    model.config_ = config;
    model.name_ = name;
    if (auto it = parsed.metadata.find("provenance"); it != parsed.metadata.end()) model.provenance_ = it->second;
    for (const auto& [tensor, entry] : parsed.tensors) {
        Tensor t{entry.shape, safetensors::to_float(entry)};
        for (float v : t.data)
            if (!std::isfinite(v)) return {StatusCode::CorruptData, name + ": tensor '" + tensor + "' contains NaN or Inf"};
        model.tensors_.emplace(tensor, std::move(t));
    }
    *out = std::move(model);
    return Status::ok();
}

Status Model::load_file(const std::filesystem::path& path, Model* out) {
    std::vector<std::uint8_t> bytes;
    if (Status st = safetensors::read_bytes(path, &bytes); !st) return st;
    return load_memory(bytes.data(), bytes.size(), path.filename().string(), out);
}

Status Model::save_file(const std::filesystem::path& path) const {
    if (Status st = config_.validate(); !st) return st;
    for (const auto& [tensor, shape] : expected_tensors(config_)) {
        const Tensor* t = find(tensor);
        if (!t || t->shape != shape)
            return {StatusCode::ModelMismatch, "cannot save: tensor '" + tensor + "' is missing or has the wrong shape"};
    }
    return safetensors::write_file(path, tensors_, {{"config", config_.to_json()}, {"provenance", provenance_}});
}

const Tensor* Model::find(const std::string& tensor_name) const {
    auto it = tensors_.find(tensor_name);
    return it == tensors_.end() ? nullptr : &it->second;
}

std::size_t Model::parameter_count() const {
    std::size_t n = 0;
    for (const auto& [name, tensor] : tensors_) n += tensor.numel();
    return n;
}

// Initialisation as PyTorch's defaults for conv/linear (uniform ±1/√fan_in for weight and bias), LayerNorm
// γ = 1 with a small random β, and small random Pola scale/power so those paths are exercised.
Model Model::random(const ModelConfig& config, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    // Our own uniform mapping: std::uniform_real_distribution is not specified bit-exactly across libraries.
    auto uniform = [&](float bound) { return float((double(rng() >> 11) * 0x1.0p-53 * 2.0 - 1.0) * bound); };
    auto ends_with = [](const std::string& s, const std::string& suffix) {
        return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
    };

    Model model;
    model.config_ = config;
    model.name_ = "random(seed=" + std::to_string(seed) + ")";
    model.provenance_ = R"json({"trained_on": "none (random weights)", "steps": 0})json";
    const auto expected = expected_tensors(config);
    std::map<std::string, std::vector<std::int64_t>> shapes(expected.begin(), expected.end());
    for (const auto& [name, shape] : expected) {
        std::size_t count = 1;
        for (auto dim : shape) count *= std::size_t(dim);
        Tensor t{shape, std::vector<float>(count)};
        const bool is_norm = name.find("norm") != std::string::npos;
        // fan_in of the layer: the weight's size per output channel.
        std::string weight = ends_with(name, ".bias") ? name.substr(0, name.size() - 5) + ".weight" : name;
        const auto& wshape = shapes.count(weight) ? shapes[weight] : shape;
        std::size_t fan_in = 1;
        for (std::size_t i = 1; i < wshape.size(); ++i) fan_in *= std::size_t(wshape[i]);
        const float bound = 1.0f / std::sqrt(float(fan_in));

        for (float& v : t.data) {
            if (is_norm && ends_with(name, ".weight")) v = 1.0f;
            else if (is_norm) v = uniform(0.05f);
            else if (ends_with(name, "attn.scale")) v = uniform(0.3f);
            else if (ends_with(name, "attn.power")) v = uniform(0.5f);
            else v = uniform(bound);
        }
        model.tensors_.emplace(name, std::move(t));
    }
    return model;
}

}  // namespace nalasr
