// Model loading and saving: round trips, widening of F16/BF16, and one clear error per kind of bad file.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "nalasr/model.h"
#include "safetensors.h"
#include "tiny_model.h"

namespace nalasr {
namespace {

namespace fs = std::filesystem;

ModelConfig small_config(AttentionKind kind = AttentionKind::Nala) {
    return test::tiny_config(2, kind, /*groups=*/2);
}

// A tensor as raw file content, for writing files the normal writer would refuse to produce.
struct RawTensor {
    std::string dtype;
    std::vector<std::int64_t> shape;
    std::vector<std::uint8_t> bytes;
};

// The 8-byte little-endian length followed by the header text.
std::vector<std::uint8_t> header_bytes(const std::string& text) {
    std::vector<std::uint8_t> file(8 + text.size());
    for (int i = 0; i < 8; ++i) file[i] = std::uint8_t(std::uint64_t(text.size()) >> (8 * i));
    std::memcpy(file.data() + 8, text.data(), text.size());
    return file;
}

std::size_t header_length(const std::vector<std::uint8_t>& file) {
    std::size_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | file[i];
    return n;
}

std::vector<std::uint8_t> serialise(const std::map<std::string, RawTensor>& tensors,
                                    const std::map<std::string, std::string>& metadata) {
    nlohmann::ordered_json header;
    header["__metadata__"] = metadata;
    std::size_t offset = 0;
    for (const auto& [name, t] : tensors) {
        header[name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.bytes.size()}}};
        offset += t.bytes.size();
    }
    std::vector<std::uint8_t> file = header_bytes(header.dump());
    for (const auto& [name, t] : tensors) file.insert(file.end(), t.bytes.begin(), t.bytes.end());
    return file;
}

std::map<std::string, RawTensor> raw_f32(const Model& model) {
    std::map<std::string, RawTensor> raw;
    for (const auto& [name, t] : model.tensors()) {
        RawTensor r{"F32", t.shape, std::vector<std::uint8_t>(t.data.size() * 4)};
        std::memcpy(r.bytes.data(), t.data.data(), r.bytes.size());
        raw[name] = std::move(r);
    }
    return raw;
}

std::map<std::string, std::string> metadata_of(const ModelConfig& config) {
    return {{"config", config.to_json()}, {"provenance", R"({"trained_on": "test"})"}};
}

Status load_bytes(const std::vector<std::uint8_t>& bytes, Model* model = nullptr) {
    Model scratch;
    return Model::load_memory(bytes.data(), bytes.size(), "model.safetensors", model ? model : &scratch);
}

fs::path temp_path(const std::string& name) {
    return fs::temp_directory_path() / ("nalasr_test_" + std::to_string(::getpid()) + "_" + name);
}

void expect_error(const Status& st, StatusCode code, const std::string& fragment) {
    EXPECT_EQ(st.code(), code) << status_code_name(st.code()) << ": " << st.message();
    EXPECT_NE(st.message().find(fragment), std::string::npos) << "message: " << st.message();
    std::printf("  [message] %s\n", st.message().c_str());
}

TEST(ModelConfig, DefaultHasPinnedParameterCount) {
    for (AttentionKind kind : {AttentionKind::Nala, AttentionKind::Softmax}) {
        ModelConfig c;
        c.attention = kind;
        std::size_t params = 0;
        for (const auto& [name, shape] : expected_tensors(c)) {
            std::size_t n = 1;
            for (auto d : shape) n *= std::size_t(d);
            params += n;
        }
        EXPECT_EQ(params, 885872u);
    }
}

TEST(ModelConfig, JsonRoundTripAndValidation) {
    ModelConfig c = small_config(AttentionKind::Pola);
    ModelConfig back;
    ASSERT_TRUE(ModelConfig::from_json(c.to_json(), &back));
    EXPECT_EQ(back.channels, 16);
    EXPECT_EQ(back.heads, 2);
    EXPECT_EQ(back.scale, 2);
    EXPECT_EQ(back.attention, AttentionKind::Pola);

    EXPECT_EQ(ModelConfig::from_json(R"({"scale": 5})", &back).code(), StatusCode::ModelMismatch);
    EXPECT_TRUE(ModelConfig::from_json(R"({"channels": 64, "heads": 8})", &back));  // d = 8
    EXPECT_EQ(ModelConfig::from_json(R"({"channels": 24, "heads": 4})", &back).code(), StatusCode::ModelMismatch);  // d = 6
    EXPECT_EQ(ModelConfig::from_json(R"({"attention": "flash"})", &back).code(), StatusCode::ModelMismatch);
    EXPECT_EQ(ModelConfig::from_json("not json", &back).code(), StatusCode::ModelMismatch);
    EXPECT_EQ(ModelConfig::from_json(R"({"format_version": 2})", &back).code(), StatusCode::UnsupportedFormat);

    AttentionKind kind;
    EXPECT_TRUE(parse_attention_kind("softmax", &kind));
    EXPECT_EQ(kind, AttentionKind::Softmax);
    EXPECT_FALSE(parse_attention_kind("Softmax ", &kind));
    EXPECT_STREQ(status_code_name(StatusCode::OutOfMemory), "out_of_memory");
}

TEST(ModelLoad, SaveLoadRoundTrip) {
    for (AttentionKind kind : {AttentionKind::Nala, AttentionKind::Pola}) {
        const Model model = Model::random(small_config(kind), 7);
        const fs::path path = temp_path("roundtrip.safetensors");
        ASSERT_TRUE(model.save_file(path));
        Model loaded;
        const Status st = Model::load_file(path, &loaded);
        fs::remove(path);
        ASSERT_TRUE(st) << st.message();
        EXPECT_EQ(loaded.config().to_json(), model.config().to_json());
        EXPECT_EQ(loaded.provenance(), model.provenance());
        ASSERT_EQ(loaded.tensors().size(), model.tensors().size());
        for (const auto& [name, t] : model.tensors()) {
            const Tensor* other = loaded.find(name);
            ASSERT_NE(other, nullptr) << name;
            EXPECT_EQ(other->shape, t.shape) << name;
            EXPECT_EQ(other->data, t.data) << name;
        }
    }
}

TEST(ModelLoad, RandomIsDeterministic) {
    const Model a = Model::random(small_config(), 3), b = Model::random(small_config(), 3);
    const Model c = Model::random(small_config(), 4);
    EXPECT_EQ(a.find("conv_first.weight")->data, b.find("conv_first.weight")->data);
    EXPECT_NE(a.find("conv_first.weight")->data, c.find("conv_first.weight")->data);
    EXPECT_EQ(a.parameter_count(), b.parameter_count());
}

TEST(ModelLoad, WidensF16AndBF16) {
    const Model model = Model::random(small_config(), 8);
    for (const std::string dtype : {"F16", "BF16"}) {
        auto raw = raw_f32(model);
        for (auto& [name, t] : raw) {
            std::vector<std::uint8_t> narrow(t.bytes.size() / 2);
            for (std::size_t i = 0; i < narrow.size() / 2; ++i) {
                float v;
                std::memcpy(&v, t.bytes.data() + 4 * i, 4);
                std::uint16_t h;
                if (dtype == "BF16") {
                    std::uint32_t bits;
                    std::memcpy(&bits, &v, 4);
                    h = std::uint16_t(bits >> 16);  // truncation is fine for a widening test
                } else {
                    _Float16 half = static_cast<_Float16>(v);
                    std::memcpy(&h, &half, 2);
                }
                std::memcpy(narrow.data() + 2 * i, &h, 2);
            }
            t = {dtype, t.shape, narrow};
        }
        Model loaded;
        const Status st = load_bytes(serialise(raw, metadata_of(model.config())), &loaded);
        ASSERT_TRUE(st) << st.message();
        double max_rel = 0;
        for (const auto& [name, t] : model.tensors()) {
            const auto& got = loaded.find(name)->data;
            for (std::size_t i = 0; i < got.size(); ++i)
                max_rel = std::max(max_rel, std::abs(double(got[i]) - t.data[i]) / std::max(1e-3, std::abs(double(t.data[i]))));
        }
        std::printf("  [error] %s widening max rel error %.3e\n", dtype.c_str(), max_rel);
        EXPECT_LT(max_rel, dtype == "BF16" ? 1e-2 : 1e-3);
    }
}

TEST(ModelLoad, WrongShapeNamesTensorAndShapes) {
    const Model model = Model::random(small_config(), 9);
    auto raw = raw_f32(model);
    auto& t = raw["groups.0.blocks.0.attn.qkvg.weight"];
    t.shape = {32, 16};
    t.bytes.resize(32 * 16 * 4);
    expect_error(load_bytes(serialise(raw, metadata_of(model.config()))), StatusCode::ModelMismatch,
                 "tensor 'groups.0.blocks.0.attn.qkvg.weight' has shape (32, 16) but the config (C=16");
}

TEST(ModelLoad, MissingTensor) {
    const Model model = Model::random(small_config(), 10);
    auto raw = raw_f32(model);
    raw.erase("groups.1.blocks.0.ffn.fc2.bias");
    expect_error(load_bytes(serialise(raw, metadata_of(model.config()))), StatusCode::ModelMismatch,
                 "tensor 'groups.1.blocks.0.ffn.fc2.bias' is missing");
}

TEST(ModelLoad, ExtraTensor) {
    const Model model = Model::random(small_config(), 11);
    auto raw = raw_f32(model);
    raw["groups.0.blocks.0.attn.kpos.weight"] = {"F32", {1}, std::vector<std::uint8_t>(4, 0)};
    expect_error(load_bytes(serialise(raw, metadata_of(model.config()))), StatusCode::ModelMismatch,
                 "unexpected tensor 'groups.0.blocks.0.attn.kpos.weight'");
}

TEST(ModelLoad, WrongDtype) {
    const Model model = Model::random(small_config(), 12);
    auto raw = raw_f32(model);
    raw["conv_first.bias"].dtype = "I32";  // same byte count, wrong type
    expect_error(load_bytes(serialise(raw, metadata_of(model.config()))), StatusCode::ModelMismatch,
                 "tensor 'conv_first.bias' has dtype I32");
}

TEST(ModelLoad, CorruptFiles) {
    const Model model = Model::random(small_config(), 13);
    const auto good = serialise(raw_f32(model), metadata_of(model.config()));
    ASSERT_TRUE(load_bytes(good));

    auto truncated = good;
    truncated.resize(good.size() - 100);
    expect_error(load_bytes(truncated), StatusCode::CorruptData, "outside the");

    expect_error(load_bytes(header_bytes("this is not json !!!")), StatusCode::CorruptData, "not a JSON object");

    auto long_header = good;
    long_header[5] = 0x7f;  // header length ~ 2^47
    expect_error(load_bytes(long_header), StatusCode::CorruptData, "larger than the file");

    expect_error(load_bytes({1, 2, 3}), StatusCode::CorruptData, "too short");

    auto raw = raw_f32(model);  // two tensors claiming the same bytes
    std::map<std::string, std::string> meta = metadata_of(model.config());
    auto overlapping = serialise(raw, meta);
    const std::size_t length = header_length(overlapping);
    nlohmann::json j = nlohmann::json::parse(overlapping.begin() + 8, overlapping.begin() + 8 + length);
    j["conv_first.bias"]["data_offsets"] = j["conv_after.bias"]["data_offsets"];
    std::vector<std::uint8_t> file = header_bytes(j.dump());
    file.insert(file.end(), overlapping.begin() + 8 + length, overlapping.end());
    expect_error(load_bytes(file), StatusCode::CorruptData, "overlap");

    expect_error(load_bytes(serialise(raw, {})), StatusCode::ModelMismatch, "no 'config'");
    ModelConfig bad = model.config();
    bad.channels = 32;
    expect_error(load_bytes(serialise(raw, metadata_of(bad))), StatusCode::ModelMismatch, "needs (32, 3, 3, 3)");
}

// Random byte damage anywhere in a small file must give an error or a valid model, never a crash.
TEST(ModelLoad, RandomCorruptionNeverCrashes) {
    const Model model = Model::random(small_config(), 14);
    const auto good = serialise(raw_f32(model), metadata_of(model.config()));
    const std::size_t header_end = 8 + header_length(good);
    std::mt19937 rng(15);
    int rejected = 0;
    for (int trial = 0; trial < 300; ++trial) {
        auto bad = good;
        const int flips = 1 + int(rng() % 4);
        for (int f = 0; f < flips; ++f) bad[rng() % header_end] = std::uint8_t(rng());
        if (trial % 3 == 0) bad.resize(rng() % bad.size());
        rejected += !load_bytes(bad).is_ok();
    }
    std::printf("  %d of 300 damaged files rejected, none crashed\n", rejected);
    EXPECT_GT(rejected, 200);
}

TEST(ModelLoad, FileErrors) {
    Model model;
    expect_error(Model::load_file("/nonexistent/dir/model.safetensors", &model), StatusCode::IoError, "cannot open");
    const Status st = Model::load_default(&model);
    if (!st) expect_error(st, StatusCode::IoError, "no default model");
    else EXPECT_EQ(model.config().scale, 4);
}

TEST(SafetensorsReader, ReadsFloatTensorsForFixtures) {
    Tensor input{{2, 3, 3}, std::vector<float>(18)};
    for (int i = 0; i < 18; ++i) input.data[i] = 0.1f * i;
    const fs::path path = temp_path("io.safetensors");
    ASSERT_TRUE(safetensors::write_file(path, {{"input", input}}, {{"note", "x"}}));
    std::map<std::string, Tensor> tensors;
    std::map<std::string, std::string> meta;
    ASSERT_TRUE(safetensors::read_file(path, &tensors, &meta));
    fs::remove(path);
    EXPECT_EQ(tensors.at("input").shape, input.shape);
    EXPECT_EQ(tensors.at("input").data, input.data);
    EXPECT_EQ(meta.at("note"), "x");
}

}  // namespace
}  // namespace nalasr
