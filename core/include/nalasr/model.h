// NalaSR public API: network configuration and weights.
//
// A Model is the configuration of the NalaSR network (docs/model.md) plus its weights, loaded from a
// safetensors file whose __metadata__ holds the config as JSON. Loading validates every tensor's name, shape
// and dtype against the config and reports the first mismatch in plain words.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "nalasr/status.h"

namespace nalasr {

enum class AttentionKind { Nala, Pola, Softmax };
const char* attention_kind_name(AttentionKind kind);  // "nala", "pola", "softmax"
bool parse_attention_kind(const std::string& name, AttentionKind* out);

struct ModelConfig {
    int channels = 64;   // C
    int heads = 4;       // h; head width d = C / h, divisible by 4
    int groups = 4;      // G residual groups
    int blocks = 4;      // B blocks per group
    int ffn_ratio = 2;   // FFN hidden width = ffn_ratio * C
    int scale = 4;       // 2, 3 or 4
    AttentionKind attention = AttentionKind::Nala;

    int head_dim() const { return channels / heads; }
    Status validate() const;
    std::string to_json() const;
    static Status from_json(const std::string& json, ModelConfig* out);
};

// One weight tensor, always float32 in memory (F16/BF16 files are widened on load).
struct Tensor {
    std::vector<std::int64_t> shape;
    std::vector<float> data;
    std::size_t numel() const { return data.size(); }
};

// The tensors a config requires, with their shapes, in a stable order (docs/model.md).
std::vector<std::pair<std::string, std::vector<std::int64_t>>> expected_tensors(const ModelConfig& config);

class Model {
public:
    // Loads and validates a safetensors file.
    static Status load_file(const std::filesystem::path& path, Model* out);
    // Same, from bytes in memory (the embedded default model). `name` is used in messages.
    static Status load_memory(const std::uint8_t* bytes, std::size_t size, const std::string& name, Model* out);
    // The default model compiled into the library (NaLa, ×4), or the error if none is embedded.
    static Status load_default(Model* out);

    // Writes this model as safetensors (F32) with its config and provenance in __metadata__.
    Status save_file(const std::filesystem::path& path) const;

    const ModelConfig& config() const { return config_; }
    ModelConfig& mutable_config() { return config_; }
    // Free-form provenance JSON from the file ("{}" when absent).
    const std::string& provenance() const { return provenance_; }
    void set_provenance(std::string json) { provenance_ = std::move(json); }
    const std::string& name() const { return name_; }

    const Tensor* find(const std::string& tensor_name) const;
    const std::map<std::string, Tensor>& tensors() const { return tensors_; }
    std::map<std::string, Tensor>& mutable_tensors() { return tensors_; }
    std::size_t parameter_count() const;

    // A model of the given config with random weights (tests, benchmarks; deterministic in `seed`).
    static Model random(const ModelConfig& config, std::uint64_t seed);

private:
    ModelConfig config_;
    std::string provenance_ = "{}";
    std::string name_;
    std::map<std::string, Tensor> tensors_;
};

}  // namespace nalasr
