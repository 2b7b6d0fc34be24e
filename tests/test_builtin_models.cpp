// The built-in models (every resources/models/*.safetensors compiled in) and how the CLI picks a model: -n NAME,
// -s/--attention, -m FILE and the model folders. Only nalasr_nala_x4 is assumed to be built in; every other listed
// model is checked the same way, so models added later are tested without editing this file.
#include <gtest/gtest.h>

#include <cstdlib>
#include <regex>

#include "embedded_models.h"
#include "model_select.h"
#include "nalasr/model.h"
#include "test_cli_support.h"
#include "tiny_model.h"

namespace {

using namespace nalasr;
using nalasr::test::CliRun;
using nalasr::test::CliTest;
using nalasr::test::run_cli;
namespace fs = std::filesystem;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// Points $NALASR_MODELS_DIR at a folder for the life of the object.
class ModelsDirOverride {
public:
    explicit ModelsDirOverride(const fs::path& folder) { setenv("NALASR_MODELS_DIR", folder.c_str(), 1); }
    ~ModelsDirOverride() { unsetenv("NALASR_MODELS_DIR"); }
};

const BuiltinModelInfo* find_info(const std::vector<BuiltinModelInfo>& models, const std::string& name) {
    for (const BuiltinModelInfo& info : models)
        if (info.name == name) return &info;
    return nullptr;
}

TEST(BuiltinModels, EveryEmbeddedFileIsListedInNameOrder) {
    const std::vector<BuiltinModelInfo> models = builtin_models();
    const auto& embedded = detail::embedded_models();
    ASSERT_EQ(models.size(), embedded.size()) << "an embedded file's header is not a valid model header";
    for (std::size_t i = 0; i < models.size(); ++i) EXPECT_EQ(models[i].name, embedded[i].name);
    for (std::size_t i = 1; i < models.size(); ++i) EXPECT_LT(models[i - 1].name, models[i].name);
}

TEST(BuiltinModels, DefaultIsTheNalaX4Model) {
    const std::vector<BuiltinModelInfo> models = builtin_models();
    const BuiltinModelInfo* info = find_info(models, kDefaultModelName);
    ASSERT_NE(info, nullptr) << "resources/models/nalasr_nala_x4.safetensors is not built in";
    EXPECT_EQ(info->config.scale, 4);
    EXPECT_EQ(info->config.attention, AttentionKind::Nala);
    Model model;
    ASSERT_TRUE(Model::load_default(&model)) << "load_default";
    EXPECT_EQ(model.name(), kDefaultModelName);
    EXPECT_EQ(model.parameter_count(), info->parameter_count);
    std::string name;
    ASSERT_TRUE(builtin_model_name(4, AttentionKind::Nala, &name));
    EXPECT_EQ(name, kDefaultModelName);
}

// Each listed model loads, and what the listing says (scale, kind, parameters) is what loads; a model named
// nalasr_<kind>_x<scale> has that kind and scale; recorded PSNRs are plausible.
TEST(BuiltinModels, EveryListedModelLoadsAndMatchesItsListing) {
    static const std::regex kConventionalName("nalasr_(nala|pola|softmax)_x([234])");
    const std::vector<BuiltinModelInfo> listed = builtin_models();
    for (const BuiltinModelInfo& info : listed) {
        SCOPED_TRACE(info.name);
        Model model;
        const Status st = Model::load_builtin(info.name, &model);
        ASSERT_TRUE(st) << st.message();
        EXPECT_EQ(model.name(), info.name);
        EXPECT_EQ(model.config().scale, info.config.scale);
        EXPECT_EQ(model.config().attention, info.config.attention);
        EXPECT_EQ(model.parameter_count(), info.parameter_count);
        if (std::smatch match; std::regex_match(info.name, match, kConventionalName)) {
            EXPECT_EQ(attention_kind_name(info.config.attention), match[1].str());
            EXPECT_EQ(info.config.scale, std::stoi(match[2].str()));
        }
        for (const std::optional<double>& psnr : {info.psnr_set5, info.psnr_set14})
            if (psnr) EXPECT_TRUE(*psnr > 15 && *psnr < 50) << *psnr;
        // The model picked for its scale and kind is one of that scale and kind.
        std::string picked;
        ASSERT_TRUE(builtin_model_name(info.config.scale, info.config.attention, &picked));
        const BuiltinModelInfo* picked_info = find_info(listed, picked);  // points into `listed`
        ASSERT_NE(picked_info, nullptr);
        EXPECT_EQ(picked_info->config.scale, info.config.scale);
        EXPECT_EQ(picked_info->config.attention, info.config.attention);
    }
}

TEST(BuiltinModels, UnknownNamesAndKindsListWhatIsBuiltIn) {
    Model model;
    Status st = Model::load_builtin("nalasr_nala_x9", &model);
    EXPECT_EQ(st.code(), StatusCode::InvalidArgument);
    EXPECT_TRUE(contains(st.message(), "no built-in model named 'nalasr_nala_x9'")) << st.message();
    EXPECT_TRUE(contains(st.message(), "built in: ")) << st.message();
    EXPECT_TRUE(contains(st.message(), kDefaultModelName)) << st.message();

    std::string name;  // no softmax model is ever shipped: its weights are NaLa's
    st = builtin_model_name(2, AttentionKind::Softmax, &name);
    EXPECT_EQ(st.code(), StatusCode::InvalidArgument);
    EXPECT_TRUE(contains(st.message(), "no built-in x2 softmax model; built in: ")) << st.message();
    EXPECT_TRUE(contains(st.message(), kDefaultModelName)) << st.message();
}

// ---- select_model: -m, -n, -s, --attention and the model folders ----

using ModelSelect = CliTest;  // dir_ holds a tiny random x2 NaLa model, model_

TEST_F(ModelSelect, ScaleFourPicksTheDefaultBuiltInModel) {
    Model model;
    std::string source;
    cli::ModelRequest request;
    request.scale = 4;
    ASSERT_TRUE(cli::select_model(request, &model, &source));
    EXPECT_EQ(source, std::string(kDefaultModelName) + " (built in)");
    EXPECT_EQ(model.name(), kDefaultModelName);
    request.scale = 0;  // nothing asked: the default model
    ASSERT_TRUE(cli::select_model(request, &model, &source));
    EXPECT_EQ(model.name(), kDefaultModelName);
}

TEST_F(ModelSelect, NameFindsBuiltInModelsThenModelFolderFiles) {
    ModelsDirOverride models_dir(dir_);
    Model model;
    std::string source;
    cli::ModelRequest request;
    request.name = kDefaultModelName;
    ASSERT_TRUE(cli::select_model(request, &model, &source));
    EXPECT_EQ(source, std::string(kDefaultModelName) + " (built in)");

    request.name = "tiny x2";  // model_'s stem, in $NALASR_MODELS_DIR
    const Status st = cli::select_model(request, &model, &source);
    ASSERT_TRUE(st) << st.message();
    EXPECT_EQ(fs::path(source).filename(), model_.filename());
    EXPECT_EQ(model.config().scale, 2);

    request.name = "no such model";
    const Status missing = cli::select_model(request, &model, &source);
    EXPECT_EQ(missing.code(), StatusCode::InvalidArgument);
    EXPECT_TRUE(contains(missing.message(), kDefaultModelName)) << missing.message();
    EXPECT_TRUE(contains(missing.message(), "no such model.safetensors in ")) << missing.message();
    EXPECT_TRUE(contains(missing.message(), fs::canonical(dir_).string())) << missing.message();
}

// A scale and kind with no built-in model falls back to nalasr_<kind>_x<scale>.safetensors in the model folders.
TEST_F(ModelSelect, ScaleAndKindWithoutBuiltInModelUseTheModelFolders) {
    cli::ModelRequest request;
    request.scale = 2;
    request.attention = "softmax";  // never built in, so the folder lookup is tested whatever models ship
    Model model;
    std::string source;
    Status st = cli::select_model(request, &model, &source);
    EXPECT_EQ(st.code(), StatusCode::InvalidArgument);
    EXPECT_TRUE(contains(st.message(), "no built-in x2 softmax model")) << st.message();
    EXPECT_TRUE(contains(st.message(), "nalasr_softmax_x2.safetensors")) << st.message();
    EXPECT_TRUE(contains(st.message(), "-m")) << st.message();

    ASSERT_TRUE(Model::random(test::tiny_config(2, AttentionKind::Softmax), 3)
                    .save_file(dir_ / "nalasr_softmax_x2.safetensors"));
    ModelsDirOverride models_dir(dir_);
    st = cli::select_model(request, &model, &source);
    ASSERT_TRUE(st) << st.message();
    EXPECT_EQ(fs::path(source).filename(), "nalasr_softmax_x2.safetensors");
    EXPECT_EQ(model.config().attention, AttentionKind::Softmax);
}

TEST_F(ModelSelect, ScaleOrKindThatDiffersFromTheNamedModelIsAnError) {
    Model model;
    std::string source;
    cli::ModelRequest request;
    request.name = kDefaultModelName;
    request.scale = 2;
    Status st = cli::select_model(request, &model, &source);
    EXPECT_EQ(st.code(), StatusCode::InvalidArgument);
    EXPECT_TRUE(contains(st.message(), "is a x4 model but -s 2 was asked for")) << st.message();

    request.scale = 4;
    request.attention = "pola";
    st = cli::select_model(request, &model, &source);
    EXPECT_TRUE(contains(st.message(), "is a nala model but --attention pola was asked for")) << st.message();

    request = {};
    request.file = model_;
    request.attention = "pola";
    st = cli::select_model(request, &model, &source);
    EXPECT_TRUE(contains(st.message(), "is a nala model but --attention pola")) << st.message();
    request.name = kDefaultModelName;
    st = cli::select_model(request, &model, &source);
    EXPECT_TRUE(contains(st.message(), "-m and -n")) << st.message();
}

// ---- the `nalasr` executable ----

using BuiltinModelsCli = CliTest;

TEST_F(BuiltinModelsCli, UpscaleWithModelNameAndScale) {
    ASSERT_TRUE(save_image(dir_ / "in.png", test::random_image(12, 10, 3, SampleType::U8, 5)));
    const std::string in = (dir_ / "in.png").string();

    CliRun unknown = run_cli({"upscale", in, "-o", (dir_ / "a").string(), "-n", "nalasr_nala_x7", "--device", "cpu"});
    EXPECT_EQ(unknown.exit_code, 2) << unknown.output;
    EXPECT_TRUE(contains(unknown.output, "no built-in model named 'nalasr_nala_x7'")) << unknown.output;
    EXPECT_TRUE(contains(unknown.output, kDefaultModelName)) << unknown.output;
    EXPECT_FALSE(fs::exists(dir_ / "a" / "in_x4.png"));

    CliRun named = run_cli({"upscale", in, "-o", (dir_ / "b").string(), "-n", kDefaultModelName, "--device", "cpu"});
    EXPECT_EQ(named.exit_code, 0) << named.output;
    EXPECT_TRUE(contains(named.output, std::string(kDefaultModelName) + " (built in) (x4, nala)")) << named.output;
    EXPECT_TRUE(fs::exists(dir_ / "b" / "in_x4.png"));

    CliRun by_scale = run_cli({"upscale", in, "-o", (dir_ / "c").string(), "-s", "4", "--device", "cpu"});
    EXPECT_EQ(by_scale.exit_code, 0) << by_scale.output;
    EXPECT_TRUE(contains(by_scale.output, std::string(kDefaultModelName) + " (built in)")) << by_scale.output;
    EXPECT_TRUE(fs::exists(dir_ / "c" / "in_x4.png"));

    CliRun both = run_cli({"upscale", in, "-o", (dir_ / "d").string(), "-n", kDefaultModelName, "-m", model_.string()});
    EXPECT_EQ(both.exit_code, 2) << both.output;

    CliRun bad_kind = run_cli({"upscale", in, "-o", (dir_ / "e").string(), "--attention", "linear"});
    EXPECT_EQ(bad_kind.exit_code, 2) << bad_kind.output;
}

TEST_F(BuiltinModelsCli, InfoListsTheBuiltInModels) {
    CliRun run = run_cli({"info"});
    EXPECT_EQ(run.exit_code, 0) << run.output;
    EXPECT_TRUE(contains(run.output, "Set5 PSNR")) << run.output;
    for (const BuiltinModelInfo& info : builtin_models()) EXPECT_TRUE(contains(run.output, info.name)) << info.name;
}

}  // namespace
