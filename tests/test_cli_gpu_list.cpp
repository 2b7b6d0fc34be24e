// `nalasr upscale -g LIST` without a GPU: the list's syntax (app/cli/gpu_list.h), choosing fake GPUs by index
// and by name, and the errors the executable gives for lists it cannot run, which exit with 2 before any work.
// Runs on the real GPUs are in tests/cuda/test_multi_gpu_cli.cpp.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "gpu_list.h"
#include "nalasr/engine.h"
#include "test_cli_support.h"

using namespace nalasr;
using namespace nalasr::test;

namespace {

cli::GpuChoice index(int i) { return {i, ""}; }
cli::GpuChoice name(const std::string& n) { return {-1, n}; }

std::vector<cli::GpuChoice> parsed(const std::string& text) {
    std::vector<cli::GpuChoice> choices;
    EXPECT_EQ(cli::parse_gpu_list(text, &choices), "") << text;
    return choices;
}

std::string parse_error(const std::string& text) {
    std::vector<cli::GpuChoice> choices;
    return cli::parse_gpu_list(text, &choices);
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

GpuInfo fake_gpu(int index, const std::string& name) {
    GpuInfo gpu;
    gpu.index = index;
    gpu.name = name;
    gpu.total_bytes = std::size_t(80) << 30;
    return gpu;
}

// The GPUs that `text` chooses among `found` ({} on an error, which goes to *error).
std::vector<int> resolved(const std::string& text, const std::vector<GpuInfo>& found, std::string* error = nullptr) {
    std::vector<cli::GpuChoice> choices;
    EXPECT_EQ(cli::parse_gpu_list(text, &choices), "") << text;
    std::vector<int> indices;
    const std::string why = cli::resolve_gpus(choices, found, true, &indices);
    if (error) *error = why;
    else EXPECT_EQ(why, "") << text;
    return why.empty() ? indices : std::vector<int>{};
}

std::string resolve_error(const std::string& text, const std::vector<GpuInfo>& found) {
    std::string error;
    resolved(text, found, &error);
    return error;
}

}  // namespace

TEST(GpuList, ParsesCommaSeparatedIndices) {
    EXPECT_EQ(parsed("0"), (std::vector<cli::GpuChoice>{index(0)}));
    EXPECT_EQ(parsed("0,1"), (std::vector<cli::GpuChoice>{index(0), index(1)}));
    EXPECT_EQ(parsed(" 3, 1 ,2"), (std::vector<cli::GpuChoice>{index(3), index(1), index(2)}));  // order kept
}

TEST(GpuList, ParsesNamesBesideIndices) {
    EXPECT_EQ(parsed("H100"), (std::vector<cli::GpuChoice>{name("H100")}));
    EXPECT_EQ(parsed(" rtx 4090 ,0"), (std::vector<cli::GpuChoice>{name("rtx 4090"), index(0)}));
    EXPECT_EQ(parsed("a,1.5,0;1,0 1"), (std::vector<cli::GpuChoice>{name("a"), name("1.5"), name("0;1"), name("0 1")}));
    EXPECT_EQ(parsed("A100,H100"), (std::vector<cli::GpuChoice>{name("A100"), name("H100")}));
}

TEST(GpuList, RefusesWhatIsNotAList) {
    for (const char* bad : {"", " ", "0,,1", "0,", ",0", "H100,", " , "})
        EXPECT_TRUE(contains(parse_error(bad), "separated by commas")) << "'" << bad << "': " << parse_error(bad);
    EXPECT_TRUE(contains(parse_error("-1"), "-1 is not a device index")) << parse_error("-1");
    EXPECT_TRUE(contains(parse_error("+1"), "+1 is not a device index")) << parse_error("+1");
    EXPECT_TRUE(contains(parse_error("0,-2"), "-2 is not a device index"));
    EXPECT_TRUE(contains(parse_error("99999999999"), "99999999999 is not a device index"));
    EXPECT_TRUE(contains(parse_error("1,0,1"), "GPU 1 is listed twice")) << parse_error("1,0,1");
    EXPECT_TRUE(contains(parse_error("h100,0,H100"), "GPU H100 is listed twice")) << parse_error("h100,0,H100");
}

TEST(GpuList, ChecksTheIndicesAgainstTheGpusFound) {
    const std::vector<GpuInfo> two = {fake_gpu(0, "Fake A"), fake_gpu(1, "Fake B")};
    EXPECT_EQ(resolved("0,1", two), (std::vector<int>{0, 1}));
    EXPECT_EQ(resolved("1", two), (std::vector<int>{1}));
    const std::string missing = resolve_error("0,2", two);
    EXPECT_TRUE(contains(missing, "there is no GPU 2")) << missing;
    EXPECT_TRUE(contains(missing, "GPUs found: 0 (Fake A, 80")) << missing;
    EXPECT_TRUE(contains(missing, "), 1 (Fake B, 80")) << missing;
    std::vector<int> indices;
    EXPECT_TRUE(contains(cli::resolve_gpus({index(0)}, {}, true, &indices), "no usable NVIDIA GPU found"));
    EXPECT_TRUE(contains(cli::resolve_gpus({index(0)}, two, false, &indices), "this build does not have"));
    EXPECT_TRUE(contains(cli::resolve_gpus({name("Fake")}, {}, true, &indices), "no usable NVIDIA GPU found"));
}

// Names as `nalasr info` prints them; note the indices need not start at 0 nor be in order.
const std::vector<GpuInfo> kMixed = {fake_gpu(0, "NVIDIA H100 80GB HBM3"), fake_gpu(1, "NVIDIA GeForce RTX 4090"),
                                     fake_gpu(2, "NVIDIA H100 80GB HBM3"), fake_gpu(3, "NVIDIA A100-SXM4-40GB")};

TEST(GpuList, ChoosesGpusByPartOfTheirNameIgnoringCase) {
    EXPECT_EQ(resolved("RTX 4090", kMixed), (std::vector<int>{1}));
    EXPECT_EQ(resolved("rtx 4090", kMixed), (std::vector<int>{1}));
    EXPECT_EQ(resolved("geforce", kMixed), (std::vector<int>{1}));
    EXPECT_EQ(resolved("a100", kMixed), (std::vector<int>{3}));
    EXPECT_EQ(resolved("NVIDIA A100-SXM4-40GB", kMixed), (std::vector<int>{3}));  // the whole name
    // A name matching several GPUs chooses all of them, in index order.
    EXPECT_EQ(resolved("H100", kMixed), (std::vector<int>{0, 2}));
    EXPECT_EQ(resolved("80gb", kMixed), (std::vector<int>{0, 2}));
    EXPECT_EQ(resolved("nvidia", kMixed), (std::vector<int>{0, 1, 2, 3}));
    // Names and indices mix; the order given is kept.
    EXPECT_EQ(resolved("rtx 4090,0", kMixed), (std::vector<int>{1, 0}));
    EXPECT_EQ(resolved("3, H100", kMixed), (std::vector<int>{3, 0, 2}));
    EXPECT_EQ(resolved("a100,rtx", kMixed), (std::vector<int>{3, 1}));
    // An item of digits is an index, never a name, even where a name contains it.
    EXPECT_EQ(resolved("1", {fake_gpu(0, "Fake 1"), fake_gpu(1, "Fake 2")}), (std::vector<int>{1}));
}

TEST(GpuList, NameMatchingNoGpuIsAnErrorListingTheGpusFound) {
    const std::string error = resolve_error("0,V100", kMixed);
    EXPECT_TRUE(contains(error, "no GPU's name contains 'V100'")) << error;
    EXPECT_TRUE(contains(error, "GPUs found: 0 (NVIDIA H100 80GB HBM3, 80")) << error;
    EXPECT_TRUE(contains(error, "3 (NVIDIA A100-SXM4-40GB, 80")) << error;
    EXPECT_TRUE(contains(resolve_error("0 1", kMixed), "no GPU's name contains '0 1'"));
    EXPECT_TRUE(contains(resolve_error("4", kMixed), "there is no GPU 4"));
}

TEST(GpuList, GpuChosenTwiceIsAnError) {
    std::string error = resolve_error("0,H100", kMixed);
    EXPECT_TRUE(contains(error, "GPU 0 is chosen twice, by 0 and by 'H100'")) << error;
    error = resolve_error("H100,2", kMixed);
    EXPECT_TRUE(contains(error, "GPU 2 is chosen twice, by 'H100' and by 2")) << error;
    error = resolve_error("80GB,h100", kMixed);
    EXPECT_TRUE(contains(error, "GPU 0 is chosen twice, by '80GB' and by 'h100'")) << error;
    error = resolve_error("rtx,GeForce", kMixed);
    EXPECT_TRUE(contains(error, "GPU 1 is chosen twice")) << error;
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
        {{"-g", "0,"}, "separated by commas"},
        {{"-g", "H100,h100"}, "GPU h100 is listed twice"},
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
    for (const std::string list : {"0,99", "No Such GPU 9000"}) {
        const CliRun run =
            run_cli({"upscale", in, "-o", (dir_ / "out.png").string(), "-m", model_.string(), "-g", list});
        EXPECT_EQ(run.exit_code, 2) << run.output;
        const std::vector<GpuInfo> gpus = list_gpus();
        if (!cuda_compiled()) {
            EXPECT_TRUE(contains(run.output, "this build does not have")) << run.output;
        } else if (gpus.empty()) {
            EXPECT_TRUE(contains(run.output, "no usable NVIDIA GPU found")) << run.output;
        } else {
            const std::string what = list == "0,99" ? "there is no GPU 99" : "no GPU's name contains '" + list + "'";
            EXPECT_TRUE(contains(run.output, what + "; GPUs found: " + std::to_string(gpus[0].index) + " (" +
                                                 gpus[0].name))
                << run.output;
        }
        EXPECT_FALSE(fs::exists(dir_ / "out.png"));
    }
}
