// The `nalasr` executable end to end (NALASR_CLI_PATH), with a small random model written by the test, plus
// the job planning (output names, collisions, refusals) as a unit.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "job_plan.h"
#include "nalasr/engine.h"
#include "nalasr/image.h"
#include "nalasr/model.h"
#include "test_cli_support.h"

namespace fs = std::filesystem;

using namespace nalasr::test;  // run_cli, random_image, CliTest, ...

TEST_F(CliTest, FolderWithAGoodAndABadImage) {
    fs::create_directories(dir_ / "in");
    ASSERT_TRUE(nalasr::save_image(dir_ / "in/good.png", random_image(12, 10, 3, nalasr::SampleType::U8, 1)).is_ok());
    write_text(dir_ / "in/bad.png", "this is not a png file at all");
    const fs::path report = dir_ / "report.json";
    CliRun run = run_cli({"upscale", (dir_ / "in").string(), "-o", (dir_ / "out").string(), "-m", model_.string(),
                          "--device", "cpu", "--report", report.string()});
    std::printf("%s", run.output.c_str());
    EXPECT_EQ(run.exit_code, 1);

    nalasr::Image out;
    ASSERT_TRUE(nalasr::load_image(dir_ / "out/good_x2.png", &out).is_ok());
    EXPECT_EQ(out.width, 24);
    EXPECT_EQ(out.height, 20);
    EXPECT_FALSE(fs::exists(dir_ / "out/bad_x2.png"));
    EXPECT_NE(run.output.find("bad.png: not a recognised image file"), std::string::npos);
    EXPECT_EQ(std::distance(fs::directory_iterator(dir_ / "out"), fs::directory_iterator()), 1);  // no temp files

    const auto json = nlohmann::json::parse(read_text(report), nullptr, false);
    ASSERT_FALSE(json.is_discarded()) << "report is not valid JSON";
    ASSERT_EQ(json["files"].size(), 2u);
    EXPECT_EQ(json["files"][0]["status"], "unsupported_format");  // bad.png sorts first
    EXPECT_EQ(json["files"][1]["status"], "ok");
    EXPECT_EQ(json["files"][1]["width_out"], 24);
    EXPECT_EQ(json["files"][1]["tokens"], 120);
    EXPECT_GT(json["files"][1]["planned_peak_bytes"].get<std::size_t>(), 0u);
    EXPECT_EQ(json["totals"]["failed"], 1);
    EXPECT_EQ(json["model"]["config"]["scale"], 2);
    EXPECT_TRUE(json["model"]["provenance"].is_object());
}

// Several files through the overlapped load/upscale/save pipeline: results in input order, every layout kept.
TEST_F(CliTest, BatchKeepsOrderDepthAndChannels) {
    using nalasr::SampleType;
    fs::create_directories(dir_ / "in");
    ASSERT_TRUE(nalasr::save_image(dir_ / "in/a ü.png", random_image(10, 8, 3, SampleType::U8, 1)).is_ok());
    write_text(dir_ / "in/b.png", "broken");
    ASSERT_TRUE(nalasr::save_image(dir_ / "in/c.png", random_image(7, 9, 2, SampleType::U16, 2)).is_ok());
    ASSERT_TRUE(nalasr::save_image(dir_ / "in/d.jpg", random_image(12, 12, 3, SampleType::U8, 3)).is_ok());
    nalasr::Image f32;
    f32.allocate(6, 5, 4, SampleType::F32);
    for (std::size_t i = 0; i < f32.pixels.size() / 4; ++i) reinterpret_cast<float*>(f32.pixels.data())[i] = float(i % 7) / 7;
    ASSERT_TRUE(nalasr::save_image(dir_ / "in/e.tif", f32).is_ok());
    const fs::path report = dir_ / "r.json";
    CliRun run = run_cli({"upscale", (dir_ / "in").string(), "-o", (dir_ / "out").string(), "-m", model_.string(),
                          "--device", "cpu", "--report", report.string()});
    std::printf("%s", run.output.c_str());
    EXPECT_EQ(run.exit_code, 1);
    const auto json = nlohmann::json::parse(read_text(report), nullptr, false);
    ASSERT_FALSE(json.is_discarded());
    ASSERT_EQ(json["files"].size(), 5u);
    const char* names[] = {"a ü.png", "b.png", "c.png", "d.jpg", "e.tif"};
    for (int i = 0; i < 5; ++i) {
        EXPECT_EQ(fs::path(json["files"][i]["input"].get<std::string>()).filename(), fs::u8path(names[i]));
        EXPECT_EQ(json["files"][i]["status"], i == 1 ? "unsupported_format" : "ok") << names[i];
    }
    struct Expected { const char* file; int channels; SampleType type; int width; };
    for (const Expected& e : {Expected{"a ü_x2.png", 3, SampleType::U8, 20}, Expected{"c_x2.png", 2, SampleType::U16, 14},
                              Expected{"d_x2.jpg", 3, SampleType::U8, 24}, Expected{"e_x2.tif", 4, SampleType::F32, 12}}) {
        nalasr::Image out;
        ASSERT_TRUE(nalasr::load_image(dir_ / "out" / fs::u8path(e.file), &out).is_ok()) << e.file;
        EXPECT_EQ(out.channels, e.channels) << e.file;
        EXPECT_EQ(out.type, e.type) << e.file;
        EXPECT_EQ(out.width, e.width) << e.file;
    }
}

TEST_F(CliTest, MetadataIsKeptUnlessStripped) {
    nalasr::Image in = random_image(8, 8, 3, nalasr::SampleType::U8, 11);
    in.icc_profile.assign(200, 7);  // TIFF carries the ICC tag's bytes as they are
    ASSERT_TRUE(nalasr::save_image(dir_ / "m.tif", in).is_ok());
    const std::vector<std::string> base = {"upscale", (dir_ / "m.tif").string(), "-o", (dir_ / "out").string(),
                                           "-m", model_.string(), "--device", "cpu"};
    ASSERT_EQ(run_cli(base).exit_code, 0);
    nalasr::Image out;
    ASSERT_TRUE(nalasr::load_image(dir_ / "out/m_x2.tif", &out).is_ok());
    EXPECT_EQ(out.icc_profile, in.icc_profile);
    auto stripped = base;
    stripped.insert(stripped.end(), {"--strip-metadata", "--overwrite"});
    ASSERT_EQ(run_cli(stripped).exit_code, 0);
    ASSERT_TRUE(nalasr::load_image(dir_ / "out/m_x2.tif", &out).is_ok());
    EXPECT_TRUE(out.icc_profile.empty());
}

TEST_F(CliTest, ExistingOutputIsRefusedWithoutOverwrite) {
    ASSERT_TRUE(nalasr::save_image(dir_ / "a.png", random_image(8, 8, 3, nalasr::SampleType::U8, 2)).is_ok());
    write_text(dir_ / "result.png", "precious");
    const std::vector<std::string> base = {"upscale", (dir_ / "a.png").string(), "-o", (dir_ / "result.png").string(),
                                           "-m", model_.string(), "--device", "cpu"};
    CliRun run = run_cli(base);
    std::printf("%s", run.output.c_str());
    EXPECT_EQ(run.exit_code, 1);
    EXPECT_NE(run.output.find("--overwrite"), std::string::npos);
    EXPECT_EQ(read_text(dir_ / "result.png"), "precious");

    auto with_overwrite = base;
    with_overwrite.push_back("--overwrite");
    run = run_cli(with_overwrite);
    EXPECT_EQ(run.exit_code, 0) << run.output;
    nalasr::Image out;
    EXPECT_TRUE(nalasr::load_image(dir_ / "result.png", &out).is_ok());
    EXPECT_EQ(out.width, 16);
}

TEST_F(CliTest, NeverWritesOntoTheInput) {
    ASSERT_TRUE(nalasr::save_image(dir_ / "a.png", random_image(8, 8, 3, nalasr::SampleType::U8, 3)).is_ok());
    const std::string before = read_text(dir_ / "a.png");
    CliRun run = run_cli({"upscale", (dir_ / "a.png").string(), "-o", (dir_ / "./a.png").string(), "--overwrite", "-m",
                          model_.string(), "--device", "cpu"});
    std::printf("%s", run.output.c_str());
    EXPECT_EQ(run.exit_code, 1);
    EXPECT_EQ(read_text(dir_ / "a.png"), before);
}

TEST_F(CliTest, SingleFileKeeps16BitAndTakesFormatFromTheOutputName) {
    ASSERT_TRUE(nalasr::save_image(dir_ / "deep.png", random_image(9, 7, 1, nalasr::SampleType::U16, 4)).is_ok());
    CliRun run = run_cli({"upscale", (dir_ / "deep.png").string(), "-o", (dir_ / "deep up.tif").string(), "-m",
                          model_.string(), "--device", "cpu"});
    EXPECT_EQ(run.exit_code, 0) << run.output;
    nalasr::Image out;
    nalasr::LoadInfo info;
    ASSERT_TRUE(nalasr::load_image(dir_ / "deep up.tif", &out, {}, &info).is_ok());
    EXPECT_EQ(info.format, nalasr::ImageFormat::Tiff);
    EXPECT_EQ(out.type, nalasr::SampleType::U16);
    EXPECT_EQ(out.channels, 1);
    EXPECT_EQ(out.width, 18);
}

// --keep-colours (and its American spelling) reaches the engine and the report; the file is what the engine makes.
TEST_F(CliTest, KeepColoursReachesTheEngineAndTheReport) {
    const nalasr::Image in = random_image(12, 9, 3, nalasr::SampleType::U8, 21);
    ASSERT_TRUE(nalasr::save_image(dir_ / "c.png", in).is_ok());
    auto run = [&](const std::string& flag, const std::string& name) {
        const fs::path report = dir_ / (name + ".json");
        std::vector<std::string> args = {"upscale", (dir_ / "c.png").string(), "-o", (dir_ / name).string(),
                                         "-m", model_.string(), "--device", "cpu", "--report", report.string()};
        if (!flag.empty()) args.push_back(flag);
        CliRun r = run_cli(args);
        EXPECT_EQ(r.exit_code, 0) << r.output;
        return nlohmann::json::parse(read_text(report), nullptr, false);
    };
    const auto on = run("--keep-colours", "on.png"), off = run("", "off.png"), alias = run("--keep-colors", "alias.png");
    ASSERT_FALSE(on.is_discarded() || off.is_discarded() || alias.is_discarded());
    EXPECT_EQ(on["options"]["keep_colours"], true);
    EXPECT_EQ(alias["options"]["keep_colours"], true);
    EXPECT_EQ(off["options"]["keep_colours"], false);
    EXPECT_TRUE(on["files"][0]["stage_ms"].contains("keep colours"));
    EXPECT_FALSE(off["files"][0]["stage_ms"].contains("keep colours"));

    nalasr::UpscaleParams params;
    params.keep_input_colours = true;
    const std::vector<std::uint8_t> expected = engine_pixels(in, params);
    ASSERT_FALSE(expected.empty());
    EXPECT_EQ(file_pixels("on.png"), expected);
    EXPECT_EQ(file_pixels("alias.png"), expected);
    EXPECT_NE(file_pixels("off.png"), expected);
    EXPECT_NE(run_cli({"upscale", "--help"}).output.find("--keep-colours"), std::string::npos);
}

TEST_F(CliTest, SetupErrorsExitWith2) {
    ASSERT_TRUE(nalasr::save_image(dir_ / "a.png", random_image(8, 8, 3, nalasr::SampleType::U8, 5)).is_ok());
    const std::string in = (dir_ / "a.png").string(), out = (dir_ / "out").string();
    CliRun scale = run_cli({"upscale", in, "-o", out, "-m", model_.string(), "-s", "3"});
    EXPECT_EQ(scale.exit_code, 2);
    EXPECT_NE(scale.output.find("x2 model but -s 3"), std::string::npos) << scale.output;
    EXPECT_EQ(run_cli({"upscale", in}).exit_code, 2);                                          // no -o
    EXPECT_EQ(run_cli({"upscale", in, "-o", out, "--device", "tpu"}).exit_code, 2);            // unknown device
    EXPECT_EQ(run_cli({"upscale", in, "-o", out, "-m", (dir_ / "none.safetensors").string()}).exit_code, 2);
    write_text(dir_ / "broken.safetensors", "garbage");
    CliRun broken = run_cli({"upscale", in, "-o", out, "-m", (dir_ / "broken.safetensors").string()});
    EXPECT_EQ(broken.exit_code, 2);
    std::printf("%s", broken.output.c_str());
    if (nalasr::list_gpus().empty()) {  // CUDA asked for where none is usable: a setup error, not a CPU run
        CliRun cuda = run_cli({"upscale", in, "-o", out, "-m", model_.string(), "--device", "cuda"});
        EXPECT_EQ(cuda.exit_code, 2);
        std::printf("%s", cuda.output.c_str());
    }
    EXPECT_EQ(run_cli({"frobnicate"}).exit_code, 2);
    EXPECT_EQ(run_cli({"--help"}).exit_code, 0);
}

// Weights whose float32 result overflows to NaN/Inf (the loader refuses NaN weights, not large ones): the file fails
// with numerical_error and nothing is written, instead of a black image (docs/robustness.md).
TEST_F(CliTest, NonFiniteResultFailsInsteadOfWritingABlackImage) {
    nalasr::Model model = nalasr::Model::random(tiny_config(), 7);
    model.mutable_tensors()["conv_first.bias"].data[0] = 3e38f;
    const fs::path broken = dir_ / "overflow.safetensors";
    ASSERT_TRUE(model.save_file(broken));
    ASSERT_TRUE(nalasr::save_image(dir_ / "a.png", random_image(8, 6, 3, nalasr::SampleType::U8, 5)).is_ok());
    const fs::path report = dir_ / "report.json";
    CliRun run = run_cli({"upscale", (dir_ / "a.png").string(), "-o", (dir_ / "out.png").string(), "-m",
                          broken.string(), "--device", "cpu", "--report", report.string()});
    std::printf("%s", run.output.c_str());
    EXPECT_EQ(run.exit_code, 1);
    EXPECT_NE(run.output.find("NaN/Inf values"), std::string::npos) << run.output;
    EXPECT_FALSE(fs::exists(dir_ / "out.png"));
    const auto json = nlohmann::json::parse(read_text(report), nullptr, false);
    ASSERT_FALSE(json.is_discarded());
    EXPECT_EQ(json["files"][0]["status"], "numerical_error");
}

TEST_F(CliTest, OutputTooLargeForTheFormatIsRefusedBeforeComputing) {
    ASSERT_TRUE(nalasr::save_image(dir_ / "wide.png", random_image(8200, 1, 3, nalasr::SampleType::U8, 6)).is_ok());
    CliRun run = run_cli({"upscale", (dir_ / "wide.png").string(), "-o", (dir_ / "out").string(), "-f", "webp", "-m",
                          model_.string(), "--device", "cpu"});
    std::printf("%s", run.output.c_str());
    EXPECT_EQ(run.exit_code, 1);
    EXPECT_NE(run.output.find("16383"), std::string::npos);
}

TEST_F(CliTest, InfoRuns) {
    CliRun run = run_cli({"info"});
    std::printf("%s", run.output.c_str());
    EXPECT_EQ(run.exit_code, 0);
    EXPECT_NE(run.output.find("nalasr "), std::string::npos);
    EXPECT_NE(run.output.find("CUDA backend"), std::string::npos);
}

TEST_F(CliTest, EvalOnATinyDataset) {
    fs::create_directories(dir_ / "Set/x2");
    const nalasr::Image hr = random_image(24, 22, 3, nalasr::SampleType::U8, 8);
    ASSERT_TRUE(nalasr::save_image(dir_ / "Set/x2/img_001_SRF_2_HR.png", hr).is_ok());
    ASSERT_TRUE(nalasr::save_image(dir_ / "Set/x2/img_001_SRF_2_LR.png", random_image(12, 11, 3, nalasr::SampleType::U8, 9)).is_ok());
    const fs::path json_path = dir_ / "eval.json";
    // No -s: the scale is the model's (x2), so the set's x2/ folder is used.
    CliRun run = run_cli({"eval", "--dataset", (dir_ / "Set").string(), "-m", model_.string(), "--device", "cpu",
                          "--json", json_path.string()});
    std::printf("%s", run.output.c_str());
    EXPECT_EQ(run.exit_code, 0);
    const auto json = nlohmann::json::parse(read_text(json_path), nullptr, false);
    ASSERT_FALSE(json.is_discarded());
    EXPECT_EQ(json["scale"], 2);
    ASSERT_EQ(json["images"].size(), 1u);
    EXPECT_GT(json["images"][0]["psnr"].get<double>(), 0.0);
    EXPECT_LT(json["images"][0]["ssim"].get<double>(), 1.0);
}

// Ctrl-C while the network runs: exit 130, summary printed, no output file or temporary file left.
TEST_F(CliTest, InterruptAbandonsTheImageCleanly) {
    ASSERT_TRUE(nalasr::save_image(dir_ / "big.png", random_image(700, 700, 3, nalasr::SampleType::U8, 10)).is_ok());
    fs::create_directories(dir_ / "out");
    int from_child[2];
    ASSERT_EQ(pipe(from_child), 0);
    const std::string in = (dir_ / "big.png").string(), out = (dir_ / "out").string(), model = model_.string();
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        dup2(from_child[1], STDOUT_FILENO);
        dup2(from_child[1], STDERR_FILENO);
        close(from_child[0]);
        execl(NALASR_CLI_PATH, "nalasr", "upscale", in.c_str(), "-o", out.c_str(), "-m", model.c_str(), "--device",
              "cpu", static_cast<char*>(nullptr));
        _exit(127);
    }
    close(from_child[1]);
    std::string output;
    char buffer[512];
    bool signalled = false;
    while (ssize_t n = read(from_child[0], buffer, sizeof(buffer))) {
        if (n < 0) break;
        output.append(buffer, std::size_t(n));
        if (!signalled && output.find(": network") != std::string::npos) {  // plain progress lines (not a TTY)
            kill(pid, SIGINT);
            signalled = true;
        }
    }
    close(from_child[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    std::printf("%s", output.c_str());
    ASSERT_TRUE(signalled) << "the network stage was never reported";
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 130);
    EXPECT_NE(output.find("interrupted"), std::string::npos);
    EXPECT_TRUE(fs::is_empty(dir_ / "out"));
}

// ---------------------------------------------------------------------------------------------------------------
// Job planning

class PlanTest : public CliTest {};

TEST_F(PlanTest, FolderNamesCollisionsAndHiddenFiles) {
    fs::create_directories(dir_ / "in");
    for (const char* name : {"a.jpg", "a.png", "b.TIF", ".hidden.png", "notes.txt"}) write_text(dir_ / "in" / name, "x");
    nalasr::cli::PlanRequest request;
    request.inputs = {dir_ / "in"};
    request.output = dir_ / "out";
    request.scale = "3";
    request.format = nalasr::ImageFormat::Png;
    const auto plan = nalasr::cli::plan_jobs(request);
    ASSERT_TRUE(plan.error.empty()) << plan.error;
    ASSERT_EQ(plan.jobs.size(), 3u);
    EXPECT_EQ(plan.jobs[0].output.filename(), "a_x3.png");
    EXPECT_EQ(plan.jobs[1].output.filename(), "a_x3-2.png");
    EXPECT_FALSE(plan.jobs[1].note.empty());
    EXPECT_EQ(plan.jobs[2].output.filename(), "b_x3.png");

    request.format = nalasr::ImageFormat::Unknown;  // keep each input's extension
    const auto same = nalasr::cli::plan_jobs(request);
    EXPECT_EQ(same.jobs[0].output.filename(), "a_x3.jpg");
    EXPECT_EQ(same.jobs[0].format, nalasr::ImageFormat::Jpeg);
    EXPECT_EQ(same.jobs[2].output.filename(), "b_x3.TIF");
    EXPECT_EQ(same.jobs[2].format, nalasr::ImageFormat::Tiff);
}

TEST_F(PlanTest, SingleFileOutputAndRefusals) {
    write_text(dir_ / "a.png", "x");
    write_text(dir_ / "b.png", "x");
    nalasr::cli::PlanRequest request;
    request.inputs = {dir_ / "a.png"};
    request.output = dir_ / "result.webp";
    auto plan = nalasr::cli::plan_jobs(request);
    ASSERT_EQ(plan.jobs.size(), 1u);
    EXPECT_EQ(plan.jobs[0].output, dir_ / "result.webp");
    EXPECT_EQ(plan.jobs[0].format, nalasr::ImageFormat::Webp);
    EXPECT_TRUE(plan.output_folder.empty());

    request.output = dir_ / "b.png";  // exists
    plan = nalasr::cli::plan_jobs(request);
    EXPECT_NE(plan.jobs[0].error.find("already exists"), std::string::npos);
    request.overwrite = true;
    EXPECT_TRUE(nalasr::cli::plan_jobs(request).jobs[0].error.empty());
    request.output = dir_ / "a.png";  // the input itself, even with --overwrite
    EXPECT_NE(nalasr::cli::plan_jobs(request).jobs[0].error.find("overwrite an input"), std::string::npos);

    request.inputs = {dir_ / "a.png", dir_ / "b.png"};  // several inputs need a folder
    request.output = dir_ / "b.png";
    EXPECT_FALSE(nalasr::cli::plan_jobs(request).error.empty());
    request.output = dir_ / "new.png";  // not there yet, but named like an image file
    EXPECT_FALSE(nalasr::cli::plan_jobs(request).error.empty());
    request.output = dir_ / "new folder";
    EXPECT_TRUE(nalasr::cli::plan_jobs(request).error.empty());
}
