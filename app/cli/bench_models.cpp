#include "bench_models.h"

namespace nalasr::cli {
namespace {

bool has_tensors_of(const Model& model, const ModelConfig& config) {
    for (const auto& [name, shape] : expected_tensors(config)) {
        const Tensor* t = model.find(name);
        if (!t || t->shape != shape) return false;
    }
    return model.tensors().size() == expected_tensors(config).size();
}

}  // namespace

Model model_for_kind(const Model& base, AttentionKind kind, bool* random_weights) {
    ModelConfig config = base.config();
    config.attention = kind;
    *random_weights = !has_tensors_of(base, config);
    if (*random_weights) return Model::random(config, 1);
    Model model = base;
    model.mutable_config().attention = kind;
    return model;
}

}  // namespace nalasr::cli
