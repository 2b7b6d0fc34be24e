// ModelConfig: validation, JSON (the `config` entry of a model file's __metadata__), and the tensor list a
// config requires (docs/model.md, "Tensors").
#include <nlohmann/json.hpp>

#include "nalasr/model.h"

namespace nalasr {

const char* attention_kind_name(AttentionKind kind) {
    switch (kind) {
        case AttentionKind::Nala: return "nala";
        case AttentionKind::Pola: return "pola";
        case AttentionKind::Softmax: return "softmax";
    }
    return "unknown";
}

bool parse_attention_kind(const std::string& name, AttentionKind* out) {
    for (AttentionKind kind : {AttentionKind::Nala, AttentionKind::Pola, AttentionKind::Softmax}) {
        if (name == attention_kind_name(kind)) {
            *out = kind;
            return true;
        }
    }
    return false;
}

namespace {

constexpr int kFormatVersion = 1;

Status invalid(const std::string& what) { return {StatusCode::InvalidArgument, "model config: " + what}; }

}  // namespace

Status ModelConfig::validate() const {
    // Upper bounds only keep absurd configs from allocating gigabytes of weights.
    if (channels < 4 || channels > 4096) return invalid("channels must be in 4..4096, got " + std::to_string(channels));
    if (heads < 1 || heads > channels) return invalid("heads must be in 1..channels, got " + std::to_string(heads));
    if (channels % heads != 0)
        return invalid("channels (" + std::to_string(channels) + ") must be divisible by heads (" +
                       std::to_string(heads) + ")");
    if (head_dim() % 4 != 0)
        return invalid("the head width channels/heads = " + std::to_string(head_dim()) +
                       " must be divisible by 4 (2D RoPE)");
    if (groups < 1 || groups > 64) return invalid("groups must be in 1..64, got " + std::to_string(groups));
    if (blocks < 1 || blocks > 64) return invalid("blocks must be in 1..64, got " + std::to_string(blocks));
    if (ffn_ratio < 1 || ffn_ratio > 16) return invalid("ffn_ratio must be in 1..16, got " + std::to_string(ffn_ratio));
    if (scale < 2 || scale > 4) return invalid("scale must be 2, 3 or 4, got " + std::to_string(scale));
    return Status::ok();
}

std::string ModelConfig::to_json() const {
    nlohmann::ordered_json j;
    j["arch"] = "nalasr";
    j["format_version"] = kFormatVersion;
    j["channels"] = channels;
    j["heads"] = heads;
    j["groups"] = groups;
    j["blocks"] = blocks;
    j["ffn_ratio"] = ffn_ratio;
    j["scale"] = scale;
    j["attention"] = attention_kind_name(attention);
    return j.dump();
}

// Missing keys keep their defaults (docs/model.md); present keys must have the right type.
Status ModelConfig::from_json(const std::string& json, ModelConfig* out) {
    nlohmann::json j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) return {StatusCode::ModelMismatch, "model config is not a JSON object"};
    ModelConfig config;
    if (j.contains("arch") && j["arch"] != "nalasr")
        return {StatusCode::ModelMismatch, "model config: arch is " + j["arch"].dump() + ", not \"nalasr\""};
    if (j.contains("format_version")) {
        if (!j["format_version"].is_number_integer())
            return {StatusCode::ModelMismatch, "model config: format_version is not an integer"};
        int version = j["format_version"].get<int>();
        if (version != kFormatVersion)
            return {StatusCode::UnsupportedFormat, "model config: format_version " + std::to_string(version) +
                                                       " is not supported (this build reads version " +
                                                       std::to_string(kFormatVersion) + ")"};
    }
    const std::pair<const char*, int*> ints[] = {{"channels", &config.channels}, {"heads", &config.heads},
                                                 {"groups", &config.groups},     {"blocks", &config.blocks},
                                                 {"ffn_ratio", &config.ffn_ratio}, {"scale", &config.scale}};
    for (const auto& [key, field] : ints) {
        if (!j.contains(key)) continue;
        const auto& value = j[key];
        if (!value.is_number_integer() || value.get<std::int64_t>() < INT32_MIN || value.get<std::int64_t>() > INT32_MAX)
            return {StatusCode::ModelMismatch, std::string("model config: ") + key + " is not an integer: " + value.dump()};
        *field = value.get<int>();
    }
    if (j.contains("attention")) {
        if (!j["attention"].is_string() || !parse_attention_kind(j["attention"].get<std::string>(), &config.attention))
            return {StatusCode::ModelMismatch,
                    "model config: attention must be \"nala\", \"pola\" or \"softmax\", got " + j["attention"].dump()};
    }
    if (Status st = config.validate(); !st) return {StatusCode::ModelMismatch, st.message()};
    *out = config;
    return Status::ok();
}

std::vector<std::pair<std::string, std::vector<std::int64_t>>> expected_tensors(const ModelConfig& config) {
    using Shape = std::vector<std::int64_t>;
    const std::int64_t C = config.channels, d = config.head_dim(), h = config.heads;
    const std::int64_t hidden = std::int64_t(config.ffn_ratio) * C, s2 = std::int64_t(config.scale) * config.scale;
    std::vector<std::pair<std::string, Shape>> list;
    auto add = [&](const std::string& name, Shape shape) { list.emplace_back(name, std::move(shape)); };
    auto add_wb = [&](const std::string& name, Shape weight) {
        std::int64_t out_channels = weight[0];
        add(name + ".weight", std::move(weight));
        add(name + ".bias", {out_channels});
    };

    add_wb("conv_first", {C, 3, 3, 3});
    for (int g = 0; g < config.groups; ++g) {
        for (int b = 0; b < config.blocks; ++b) {
            const std::string p = "groups." + std::to_string(g) + ".blocks." + std::to_string(b) + ".";
            add_wb(p + "cpe1", {C, 1, 3, 3});
            add_wb(p + "norm1", {C});
            add_wb(p + "attn.qkvg", {4 * C, C});
            if (config.attention == AttentionKind::Pola) {
                add_wb(p + "attn.lepe", {d, 1, 5, 5});
                add_wb(p + "attn.kpos", {C, 1, 3, 3});
                add(p + "attn.scale", {C});
                add(p + "attn.power", {h, d});
            } else {
                add_wb(p + "attn.lepe", {C, 1, 5, 5});
                add_wb(p + "attn.norm", {C});
            }
            add_wb(p + "attn.proj", {C, C});
            add_wb(p + "cpe2", {C, 1, 3, 3});
            add_wb(p + "norm2", {C});
            add_wb(p + "ffn.fc1", {hidden, C});
            add_wb(p + "ffn.dwconv", {hidden, 1, 3, 3});
            add_wb(p + "ffn.fc2", {C, hidden});
        }
        add_wb("groups." + std::to_string(g) + ".conv", {C, C, 3, 3});
    }
    add_wb("conv_after", {C, C, 3, 3});
    add_wb("upsample.conv", {3 * s2, C, 3, 3});
    return list;
}

}  // namespace nalasr
