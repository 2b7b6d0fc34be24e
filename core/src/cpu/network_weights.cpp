#include "cpu/network_weights.h"

#include <cmath>

namespace nalasr::cpu {

NetworkWeights::NetworkWeights(const Model& model) : config_(model.config()) {
    // Only the tensors the config uses; Model loading has already checked they are all present.
    for (const auto& [name, shape] : expected_tensors(config_)) {
        const Tensor* t = model.find(name);
        storage_[name] = t ? t->data : std::vector<float>();
    }
    conv_first = pair("conv_first");
    conv_after = pair("conv_after");
    upsample = pair("upsample.conv");
    const bool pola = config_.attention == AttentionKind::Pola;
    blocks.resize(std::size_t(config_.groups));
    for (int g = 0; g < config_.groups; ++g) {
        const std::string group = "groups." + std::to_string(g);
        group_conv.push_back(pair(group + ".conv"));
        for (int b = 0; b < config_.blocks; ++b) {
            const std::string p = group + ".blocks." + std::to_string(b) + ".";
            BlockWeights w;
            w.cpe1 = pair(p + "cpe1");
            w.norm1 = pair(p + "norm1");
            w.qkvg = pair(p + "attn.qkvg");
            w.lepe = pair(p + "attn.lepe");
            w.proj = pair(p + "attn.proj");
            w.cpe2 = pair(p + "cpe2");
            w.norm2 = pair(p + "norm2");
            w.fc1 = pair(p + "ffn.fc1");
            w.ffn_dwconv = pair(p + "ffn.dwconv");
            w.fc2 = pair(p + "ffn.fc2");
            if (pola) {
                w.kpos = pair(p + "attn.kpos");
                w.power = get(p + "attn.power");
                const float* scale = get(p + "attn.scale");
                for (int c = 0; c < config_.channels; ++c)  // softplus, stable for large inputs
                    w.sigma.push_back(scale[c] > 20.0f ? scale[c] : std::log1p(std::exp(scale[c])));
            } else {
                w.attn_norm = pair(p + "attn.norm");
            }
            blocks[std::size_t(g)].push_back(std::move(w));
        }
    }
}

WeightBias NetworkWeights::pair(const std::string& prefix) const {
    return {get(prefix + ".weight"), get(prefix + ".bias")};
}

const float* NetworkWeights::get(const std::string& name) const {
    auto it = storage_.find(name);
    return it == storage_.end() || it->second.empty() ? nullptr : it->second.data();
}

}  // namespace nalasr::cpu
