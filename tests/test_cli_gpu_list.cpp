// `nalasr upscale -g LIST` without a GPU: the list's syntax (app/cli/gpu_list.h) and the errors the executable
// gives for lists it cannot run, which exit with 2 before any work. Runs on the real GPUs are in
// tests/cuda/test_multi_gpu_cli.cpp.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "gpu_list.h"
#include "nalasr/engine.h"
#include "test_cli_support.h"

using namespace nalasr;
using namespace nalasr::test;

namespace {

std::vector<int> parsed(const std::string& text) {
    std::vector<int> indices;
    EXPECT_EQ(cli::parse_gpu_list(text, &indices), "") << text;
    return indices;
}

std::string parse_error(const std::string& text) {
    std::vector<int> indices;
    return cli::parse_gpu_list(text, &indices);
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

GpuInfo fake_gpu(int index, const std::string& name) {
    GpuInfo gpu;
    gpu.index = index;
    gpu.name = name;
    gpu.total_bytes = std::size_t(80) << 30;
    return gpu;
}

}  // namespace

TEST(GpuList, ParsesCommaSeparatedIndices) {
    EXPECT_EQ(parsed("0"), (std::vector<int>{0}));
    EXPECT_EQ(parsed("0,1"), (std::vector<int>{0, 1}));
    EXPECT_EQ(parsed(" 3, 1 ,2"), (std::vector<int>{3, 1, 2}));  // the order given is kept
}

TEST(GpuList, RefusesWhatIsNotAListOfIndices) {
    for (const char* bad : {"", " ", "a", "0,,1", "0,", ",0", "1.5", "0;1", "0 1", "+1", "99999999999"})
        EXPECT_TRUE(contains(parse_error(bad), "separated by commas")) << "'" << bad << "': " << parse_error(bad);
    EXPECT_TRUE(contains(parse_error("-1"), "-1 is not a device index")) << parse_error("-1");
    EXPECT_TRUE(contains(parse_error("0,-2"), "-2 is not a device index"));
    EXPECT_TRUE(contains(parse_error("1,0,1"), "GPU 1 is listed twice")) << parse_error("1,0,1");
}

TEST(GpuList, ChecksTheIndicesAgainstTheGpusFound) {
    const std::vector<GpuInfo> two = {fake_gpu(0, "Fake A"), fake_gpu(1, "Fake B")};
    EXPECT_EQ(cli::check_gpus_exist({0, 1}, two, true), "");
    EXPECT_EQ(cli::check_gpus_exist({1}, two, true), "");
    const std::string missing = cli::check_gpus_exist({0, 2}, two, true);
    EXPECT_TRUE(contains(missing, "there is no GPU 2")) << missing;
    EXPECT_TRUE(contains(missing, "GPUs found: 0 (Fake A, 80")) << missing;
    EXPECT_TRUE(contains(missing, "), 1 (Fake B, 80")) << missing;
    EXPECT_TRUE(contains(cli::check_gpus_exist({0}, {}, true), "no usable NVIDIA GPU found"));
    EXPECT_TRUE(contains(cli::check_gpus_exist({0}, two, false), "this build does not have"));
}

// The executable refuses bad lists with exit code 2 and one clear line, before loading anything.
TEST_F(CliTest, GpuListErrorsExitWith2) {
    const std::string in = (dir_ / "in.png").string();
    ASSERT_TRUE(save_image(in, random_image(6, 5, 3, SampleType::U8, 1)).is_ok());
    const std::string out = (dir_ / "out").string();
    struct Case {
        std::vector<std::string> args;
        std::string message;
    };
    const std::vector<Case> cases = {
        {{"-g", "0,0"}, "GPU 0 is listed twice"},
        {{"--gpu=-1"}, "-1 is not a device index"},
        {{"-g", "0,x"}, "separated by commas"},
        {{"-g", "0", "--device", "cpu"}, "cannot be combined with --device cpu"},
    };
    for (const Case& c : cases) {
        std::vector<std::string> args = {"upscale", in, "-o", out, "-m", model_.string()};
        args.insert(args.end(), c.args.begin(), c.args.end());
        const CliRun run = run_cli(args);
        EXPECT_EQ(run.exit_code, 2) << c.args[0] << " " << run.output;
        EXPECT_TRUE(contains(run.output, "nalasr: error: ")) << run.output;
        EXPECT_TRUE(contains(run.output, c.message)) << run.output;
        EXPECT_FALSE(fs::exists(dir_ / "out")) << "nothing is written on a setup error";
    }
}

// A GPU that does not exist: the error depends on what this machine has, and lists the GPUs found.
TEST_F(CliTest, GpuThatDoesNotExistIsASetupErrorNamingTheGpusFound) {
    const std::string in = (dir_ / "in.png").string();
    ASSERT_TRUE(save_image(in, random_image(6, 5, 3, SampleType::U8, 1)).is_ok());
    const CliRun run = run_cli({"upscale", in, "-o", (dir_ / "out.png").string(), "-m", model_.string(), "-g", "0,99"});
    EXPECT_EQ(run.exit_code, 2) << run.output;
    const std::vector<GpuInfo> gpus = list_gpus();
    if (!cuda_compiled()) {
        EXPECT_TRUE(contains(run.output, "this build does not have")) << run.output;
    } else if (gpus.empty()) {
        EXPECT_TRUE(contains(run.output, "no usable NVIDIA GPU found")) << run.output;
    } else {
        EXPECT_TRUE(contains(run.output, "there is no GPU 99; GPUs found: 0 (" + gpus[0].name)) << run.output;
    }
    EXPECT_FALSE(fs::exists(dir_ / "out.png"));
}
