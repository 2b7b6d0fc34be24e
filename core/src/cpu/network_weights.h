// The CPU backend's copy of a model's weights, with per-layer pointers resolved once at creation
// (the Model may be destroyed after the backend is built) and Pola's σ = softplus(scale) precomputed.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "nalasr/model.h"

namespace nalasr::cpu {

struct WeightBias {
    const float* w = nullptr;
    const float* b = nullptr;
};

struct BlockWeights {
    WeightBias cpe1, norm1, qkvg, lepe, proj, cpe2, norm2, fc1, ffn_dwconv, fc2;
    WeightBias attn_norm;        // nala, softmax
    WeightBias kpos;             // pola
    const float* power = nullptr;  // pola: (heads, d), raw
    std::vector<float> sigma;      // pola: softplus(attn.scale), C values
};

class NetworkWeights {
public:
    explicit NetworkWeights(const Model& model);
    NetworkWeights(const NetworkWeights&) = delete;
    NetworkWeights& operator=(const NetworkWeights&) = delete;

    const ModelConfig& config() const { return config_; }
    WeightBias conv_first, conv_after, upsample;
    std::vector<WeightBias> group_conv;              // [group]
    std::vector<std::vector<BlockWeights>> blocks;   // [group][block]

private:
    WeightBias pair(const std::string& prefix) const;
    const float* get(const std::string& name) const;

    ModelConfig config_;
    std::map<std::string, std::vector<float>> storage_;
};

}  // namespace nalasr::cpu
