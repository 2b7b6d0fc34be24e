// -x/--tta on `nalasr upscale` and `nalasr eval` (NALASR_CLI_PATH) with the tiny random model of CliTest: the flag
// reaches the engine (the file is the engine's TTA result), the JSON report's options and the eval JSON, and --help.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "nalasr/engine.h"
#include "nalasr/image.h"
#include "test_cli_support.h"

namespace fs = std::filesystem;

using namespace nalasr::test;

namespace {

// in.png upscaled to `name` by `flags` through the CLI, and its JSON report (discarded when the run failed).
// `dir` holds in.png and the model.
nlohmann::json upscale_report(const fs::path& dir, const fs::path& model, const std::vector<std::string>& flags,
                              const std::string& name) {
    const fs::path report = dir / (name + ".json");
    std::vector<std::string> args = {"upscale", (dir / "in.png").string(), "-o", (dir / name).string(),
                                     "-m", model.string(), "--device", "cpu", "--report", report.string()};
    args.insert(args.end(), flags.begin(), flags.end());
    const CliRun run = run_cli(args);
    EXPECT_EQ(run.exit_code, 0) << run.output;
    return nlohmann::json::parse(read_text(report), nullptr, false);
}

}  // namespace

TEST_F(CliTest, TtaReachesTheEngineAndTheReport) {
    const nalasr::Image in = random_image(11, 8, 3, nalasr::SampleType::U8, 31);
    ASSERT_TRUE(nalasr::save_image(dir_ / "in.png", in).is_ok());
    const auto on = upscale_report(dir_, model_, {"--tta"}, "on.png"),
               short_flag = upscale_report(dir_, model_, {"-x"}, "x.png"),
               off = upscale_report(dir_, model_, {}, "off.png");
    ASSERT_FALSE(on.is_discarded() || short_flag.is_discarded() || off.is_discarded());
    EXPECT_EQ(on["options"]["tta"], true);
    EXPECT_EQ(short_flag["options"]["tta"], true);
    EXPECT_EQ(off["options"]["tta"], false);
    EXPECT_EQ(off["options"]["keep_colours"], false);
    EXPECT_TRUE(on["files"][0]["stage_ms"].contains("tta"));
    EXPECT_FALSE(off["files"][0]["stage_ms"].contains("tta"));

    nalasr::UpscaleParams params;
    params.tta = true;
    const std::vector<std::uint8_t> expected = engine_pixels(in, params);
    ASSERT_FALSE(expected.empty());
    EXPECT_EQ(file_pixels("on.png"), expected);
    EXPECT_EQ(file_pixels("x.png"), expected);
    EXPECT_NE(file_pixels("off.png"), expected);
    EXPECT_NE(run_cli({"upscale", "--help"}).output.find("--tta"), std::string::npos);
}

TEST_F(CliTest, EvalTakesTta) {
    const fs::path set = dir_ / "set";
    fs::create_directories(set);
    ASSERT_TRUE(nalasr::save_image(set / "a_HR.png", random_image(32, 24, 3, nalasr::SampleType::U8, 41)).is_ok());
    ASSERT_TRUE(nalasr::save_image(set / "a_LR.png", random_image(16, 12, 3, nalasr::SampleType::U8, 42)).is_ok());
    auto eval = [&](const std::string& flag) {
        const fs::path json = dir_ / ("eval" + flag + ".json");
        std::vector<std::string> args = {"eval", "--dataset", set.string(), "-m", model_.string(), "--device", "cpu",
                                         "--json", json.string()};
        if (!flag.empty()) args.push_back(flag);
        const CliRun run = run_cli(args);
        EXPECT_EQ(run.exit_code, 0) << run.output;
        return nlohmann::json::parse(read_text(json), nullptr, false);
    };
    const auto on = eval("--tta"), short_flag = eval("-x"), off = eval("");
    ASSERT_FALSE(on.is_discarded() || short_flag.is_discarded() || off.is_discarded());
    EXPECT_EQ(on["tta"], true);
    EXPECT_EQ(short_flag["tta"], true);
    EXPECT_EQ(off["tta"], false);
    EXPECT_EQ(on["mean"]["psnr"], short_flag["mean"]["psnr"]);
    EXPECT_NE(on["mean"]["psnr"], off["mean"]["psnr"]);  // the random model is far from flip-invariant
    EXPECT_NE(run_cli({"eval", "--help"}).output.find("--tta"), std::string::npos);
}
