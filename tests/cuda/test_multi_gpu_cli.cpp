// `nalasr upscale -g` on real GPUs, through the executable: `-g 0` writes exactly the bytes of `--device cuda`,
// and `-g` over every GPU (with two or more of one model) writes them again, each GPU's share in the report.
// Skips without a GPU.
#include <nlohmann/json.hpp>

#include <cctype>
#include <string>
#include <vector>

#include "../test_cli_support.h"
#include "cuda_test_util.h"
#include "nalasr/engine.h"

using namespace nalasr;
using namespace nalasr::test;

namespace {

class MultiGpuCliTest : public CliTest {
protected:
    // A folder of mixed sizes and layouts: what the scheduler has to balance.
    void SetUp() override {
        NALASR_SKIP_WITHOUT_GPU();
        CliTest::SetUp();
        if (IsSkipped()) return;
        fs::create_directories(dir_ / "in");
        const int sizes[][2] = {{17, 13}, {96, 64}, {33, 71}, {128, 128}, {5, 7}, {64, 48}, {200, 120}, {40, 40}};
        for (int i = 0; i < 8; ++i) {
            const int channels = i == 2 ? 4 : 3;
            const SampleType type = i == 5 ? SampleType::U16 : SampleType::U8;
            const fs::path file = dir_ / "in" / ("img" + std::to_string(i) + ".png");
            ASSERT_TRUE(save_image(file, random_image(sizes[i][0], sizes[i][1], channels, type, unsigned(i))).is_ok());
        }
    }

    // Upscales the input folder into `out` with the extra arguments; returns the output.
    std::string upscale(const std::string& out, const std::vector<std::string>& extra) {
        std::vector<std::string> args = {"upscale", (dir_ / "in").string(), "-o", (dir_ / out).string(), "-m",
                                         model_.string()};
        args.insert(args.end(), extra.begin(), extra.end());
        const CliRun run = run_cli(args);
        EXPECT_EQ(run.exit_code, 0) << run.output;
        return run.output;
    }

    void expect_same_files(const std::string& a, const std::string& b) {
        int compared = 0;
        for (const auto& entry : fs::directory_iterator(dir_ / a)) {
            const fs::path other = dir_ / b / entry.path().filename();
            EXPECT_EQ(read_text(entry.path()), read_text(other)) << entry.path().filename() << ": " << a << " vs " << b;
            ++compared;
        }
        EXPECT_EQ(compared, 8);
    }
};

}  // namespace

TEST_F(MultiGpuCliTest, OneGpuListWritesWhatDeviceCudaWrites) {
    upscale("cuda", {"--device", "cuda"});
    const std::string output = upscale("g0", {"-g", "0"});
    EXPECT_NE(output.find("running on cuda:0"), std::string::npos) << output;
    EXPECT_NE(output.find("images/s"), std::string::npos) << output;
    expect_same_files("cuda", "g0");
}

// `-g NAME` (any case) runs on every GPU whose name contains it, and writes the bytes `-g 0` writes.
TEST_F(MultiGpuCliTest, GpuChosenByNameRunsOnEveryGpuOfThatName) {
    const std::vector<GpuInfo> gpus = list_gpus();
    std::string name = gpus[0].name;
    for (char& c : name) c = char(std::tolower(static_cast<unsigned char>(c)));
    upscale("g0", {"-g", "0"});
    const std::string output = upscale("named", {"-g", name, "-j", "4"});
    for (const GpuInfo& gpu : gpus) {
        const bool chosen = gpu.name.find(gpus[0].name) != std::string::npos;
        EXPECT_EQ(output.find("cuda:" + std::to_string(gpu.index) + " ") != std::string::npos, chosen) << output;
    }
    expect_same_files("g0", "named");
}

TEST_F(MultiGpuCliTest, EveryGpuTakesFilesAndTheBytesStayTheSame) {
    const std::vector<GpuInfo> gpus = list_gpus();
    if (gpus.size() < 2) GTEST_SKIP() << "one GPU only";
    std::string list;
    for (const GpuInfo& gpu : gpus) list += (list.empty() ? "" : ",") + std::to_string(gpu.index);
    upscale("cuda", {"--device", "cuda"});
    const fs::path report = dir_ / "report.json";
    const std::string output = upscale("all", {"-g", list, "-j", "4", "--report", report.string()});
    std::printf("%s", output.c_str());

    // Every GPU of one model runs the same kernels and GEMM algorithms, so the files are identical.
    bool one_model = true;
    for (const GpuInfo& gpu : gpus) one_model = one_model && gpu.name == gpus[0].name;
    if (one_model) expect_same_files("cuda", "all");

    const auto json = nlohmann::json::parse(read_text(report), nullptr, false);
    ASSERT_FALSE(json.is_discarded());
    ASSERT_EQ(json["devices"].size(), gpus.size());
    int files = 0;
    for (std::size_t d = 0; d < gpus.size(); ++d) {
        const std::string name = json["devices"][d]["device"];
        EXPECT_EQ(name.rfind("cuda:" + std::to_string(gpus[d].index) + " (", 0), 0u) << name;
        files += json["devices"][d]["files"].get<int>();
    }
    EXPECT_EQ(files, 8);
    EXPECT_EQ(json["totals"]["upscaled"], 8);
    EXPECT_GT(json["totals"]["images_per_second"].get<double>(), 0);
    EXPECT_GT(json["totals"]["megapixels_per_second"].get<double>(), 0);
}
