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
#include <optional>
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
    // Same, from bytes in memory (the built-in models). `name` is used in messages.
    static Status load_memory(const std::uint8_t* bytes, std::size_t size, const std::string& name, Model* out);
    // The default model compiled into the library (kDefaultModelName), or the error if it is not embedded.
    static Status load_default(Model* out);
    // A model compiled into the library, by name (builtin_models()); the error lists the names there are.
    static Status load_builtin(const std::string& name, Model* out);

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

// ---- Built-in models: every resources/models/*.safetensors present at build time is compiled in ----

// The model Model::load_default loads.
inline constexpr char kDefaultModelName[] = "nalasr_nala_x4";

struct BuiltinModelInfo {
    std::string name;  // the file's stem, e.g. "nalasr_nala_x4"
    ModelConfig config;
    std::size_t parameter_count = 0;
    // From the provenance, when recorded: Y-channel PSNR (dB) on Set5 and Set14.
    std::optional<double> psnr_set5;
    std::optional<double> psnr_set14;
};

// The built-in models, sorted by name, read from their headers (cheap: no weights are converted).
std::vector<BuiltinModelInfo> builtin_models();

// The built-in model for a scale and attention kind: nalasr_<kind>_x<scale> when built in, else the first built-in
// model (by name) of that scale and kind. The error names the models there are ("no built-in x3 pola model; built
// in: nalasr_nala_x2, nalasr_nala_x4").
Status builtin_model_name(int scale, AttentionKind kind, std::string* name);

}  // namespace nalasr
