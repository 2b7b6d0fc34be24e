#include "cuda/cuda_weights.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

namespace nalasr::cuda {
namespace {

constexpr std::size_t kTensorAlignment = 256;

int round_up(int v, int m) { return (v + m - 1) / m * m; }

// Lays the tensors out back to back in one block. Run twice over the same model: first without staging memory
// to measure the block, then with the host staging buffer (filled here) and the device block it will be copied
// to, whose addresses it hands out.
class Packer {
public:
    Packer(std::byte* device_base, std::vector<std::byte>* staging) : device_base_(device_base), staging_(staging) {}

    const float* f32(const std::vector<float>& v) { return static_cast<const float*>(put(v.data(), v.size() * 4)); }
    const __half* f16(const std::vector<float>& v) {
        std::vector<__half> h(v.size());
        for (std::size_t i = 0; i < v.size(); ++i) h[i] = __float2half_rn(v[i]);
        return static_cast<const __half*>(put(h.data(), h.size() * sizeof(__half)));
    }
    std::size_t size() const { return size_; }

private:
    const void* put(const void* src, std::size_t bytes) {
        const std::size_t offset = (size_ + kTensorAlignment - 1) / kTensorAlignment * kTensorAlignment;
        if (staging_) std::memcpy(staging_->data() + offset, src, bytes);
        size_ = offset + bytes;
        // Integer arithmetic: in the measuring pass the base is null.
        return reinterpret_cast<const void*>(reinterpret_cast<std::uintptr_t>(device_base_) + offset);
    }

    std::byte* device_base_;
    std::vector<std::byte>* staging_;
    std::size_t size_ = 0;
};

class WeightPacker {
public:
    WeightPacker(const Model& model, Packer& packer) : model_(model), p_(packer) {}

    const Tensor& tensor(const std::string& name) const { return *model_.find(name); }

    Conv3x3Weights conv(const std::string& name) {
        const Tensor& w = tensor(name + ".weight");
        const Tensor& b = tensor(name + ".bias");
        Conv3x3Weights c;
        c.cout = int(w.shape[0]), c.cin = int(w.shape[1]);
        c.cout_pad = round_up(c.cout, 4), c.k_pad = round_up(9 * c.cin, 8);
        std::vector<float> packed(std::size_t(c.cout_pad) * c.k_pad, 0.0f), bias(c.cout_pad, 0.0f);
        for (int co = 0; co < c.cout; ++co) {
            bias[co] = b.data[co];
            for (int ci = 0; ci < c.cin; ++ci)
                for (int tap = 0; tap < 9; ++tap)
                    packed[std::size_t(co) * c.k_pad + tap * c.cin + ci] = w.data[(std::size_t(co) * c.cin + ci) * 9 + tap];
        }
        c.w = p_.f16(packed);
        c.bias = p_.f32(bias);
        c.bias16 = p_.f16(bias);
        return c;
    }

    LinearWeights linear(const std::string& name, bool f16_output) {
        const Tensor& w = tensor(name + ".weight");
        const Tensor& b = tensor(name + ".bias");
        LinearWeights l;
        l.out = int(w.shape[0]), l.in = int(w.shape[1]);
        l.w = p_.f16(w.data);
        l.bias = f16_output ? static_cast<const void*>(p_.f16(b.data)) : static_cast<const void*>(p_.f32(b.data));
        return l;
    }

    // Tap-major (k·k, channels): the lanes of a warp, which own consecutive channels, read one contiguous row
    // of weights per tap instead of one cache line each.
    DepthwiseWeights depthwise(const std::string& name) {
        const Tensor& w = tensor(name + ".weight");
        const std::size_t channels = std::size_t(w.shape[0]), taps = w.data.size() / channels;
        std::vector<float> tap_major(w.data.size());
        for (std::size_t c = 0; c < channels; ++c)
            for (std::size_t tap = 0; tap < taps; ++tap) tap_major[tap * channels + c] = w.data[c * taps + tap];
        return {p_.f32(tap_major), p_.f32(tensor(name + ".bias").data)};
    }

    NormWeights norm(const std::string& name) {
        return {p_.f32(tensor(name + ".weight").data), p_.f32(tensor(name + ".bias").data)};
    }

    BlockWeights block(const std::string& prefix, AttentionKind kind) {
        BlockWeights b;
        b.cpe1 = depthwise(prefix + "cpe1");
        b.norm1 = norm(prefix + "norm1");
        b.qkvg = linear(prefix + "attn.qkvg", true);
        b.lepe = depthwise(prefix + "attn.lepe");
        b.proj = linear(prefix + "attn.proj", true);
        b.cpe2 = depthwise(prefix + "cpe2");
        b.norm2 = norm(prefix + "norm2");
        b.fc1 = linear(prefix + "ffn.fc1", true);
        b.ffn_dwconv = depthwise(prefix + "ffn.dwconv");
        b.fc2 = linear(prefix + "ffn.fc2", true);
        if (kind == AttentionKind::Pola) {
            b.kpos = depthwise(prefix + "attn.kpos");
            std::vector<float> inv_sigma = tensor(prefix + "attn.scale").data;
            for (float& s : inv_sigma) {
                const double softplus = s > 20.0f ? double(s) : std::log1p(std::exp(double(s)));
                s = float(1.0 / softplus);
            }
            std::vector<float> power = tensor(prefix + "attn.power").data;
            for (float& v : power) v = float(1.0 + 4.0 / (1.0 + std::exp(-double(v))));
            b.inv_sigma = p_.f32(inv_sigma);
            b.power = p_.f32(power);
        } else {
            b.attn_norm = norm(prefix + "attn.norm");
        }
        return b;
    }

    void network(NetworkWeights* out) {
        const ModelConfig& cfg = model_.config();
        out->conv_first = conv("conv_first");
        out->blocks.clear();
        out->group_convs.clear();
        for (int g = 0; g < cfg.groups; ++g) {
            for (int b = 0; b < cfg.blocks; ++b)
                out->blocks.push_back(
                    block("groups." + std::to_string(g) + ".blocks." + std::to_string(b) + ".", cfg.attention));
            out->group_convs.push_back(conv("groups." + std::to_string(g) + ".conv"));
        }
        out->conv_after = conv("conv_after");
        out->upsample = conv("upsample.conv");
    }

private:
    const Model& model_;
    Packer& p_;
};

}  // namespace

Status upload_weights(const Model& model, NetworkWeights* out) {
    for (const auto& [name, shape] : expected_tensors(model.config()))
        if (!model.find(name)) return {StatusCode::ModelMismatch, "the model has no tensor '" + name + "'"};

    Packer measure(nullptr, nullptr);
    WeightPacker(model, measure).network(out);

    NALASR_RETURN_IF_ERROR(out->storage.allocate(measure.size()));
    std::vector<std::byte> staging(measure.size());
    Packer fill(out->storage.data(), &staging);
    WeightPacker(model, fill).network(out);
    NALASR_CUDA_CHECK(cudaMemcpy(out->storage.data(), staging.data(), staging.size(), cudaMemcpyHostToDevice));
    return Status::ok();
}

}  // namespace nalasr::cuda
