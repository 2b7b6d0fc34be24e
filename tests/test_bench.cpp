// `nalasr bench`: its pieces as units (sizes, estimates, reductions, CSV, plot script), and the executable end to
// end on a tiny model: the files' columns, and softmax's memory growing faster than NaLa's, as measured.
// (The planner's prediction against the observed peak, for every kind, is tests/test_memory_plan.cpp.)
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "bench_measure.h"
#include "bench_plot.h"
#include "bench_results.h"
#include "bench_sizes.h"
#include "nalasr/model.h"
#include "test_cli_support.h"

namespace fs = std::filesystem;

namespace nalasr::cli {
namespace {

using test::CliRun;
using test::run_cli;

std::vector<std::string> split(const std::string& line, char sep) {
    std::vector<std::string> fields;
    std::stringstream stream(line);
    for (std::string field; std::getline(stream, field, sep);) fields.push_back(field);
    if (!line.empty() && line.back() == sep) fields.emplace_back();
    return fields;
}

std::vector<std::string> read_lines(const fs::path& path) {
    std::ifstream file(path);
    std::vector<std::string> lines;
    for (std::string line; std::getline(file, line);) lines.push_back(line);
    return lines;
}

BenchPoint point(AttentionKind kind, int side, PointStatus status, std::size_t planned, std::size_t observed) {
    BenchPoint p;
    p.device = "cpu";
    p.backend = "cpu";
    p.attention = kind;
    p.size = {side, side};
    p.status = status;
    p.planned_peak_bytes = planned;
    p.observed_peak_bytes = observed;
    if (status == PointStatus::Measured) p.run_seconds = {2.0}, p.median_seconds = 2.0;
    return p;
}

TEST(BenchSizes, ParsesSquaresAndRectangles) {
    std::vector<InputSize> sizes;
    ASSERT_TRUE(parse_bench_sizes("64,265,960x540", &sizes));
    ASSERT_EQ(sizes.size(), 3u);
    EXPECT_EQ(sizes[1].tokens(), 70225u);
    EXPECT_EQ(sizes[2].width, 960);
    EXPECT_EQ(sizes[2].height, 540);
    for (const char* bad : {"", "0", "64,,128", "12a", "x5", "5x", "20000", "-3", "3x4x5"}) {
        const Status st = parse_bench_sizes(bad, &sizes);
        EXPECT_FALSE(st) << bad;
        EXPECT_EQ(st.code(), StatusCode::InvalidArgument) << bad;
    }
    // The default ladder includes the claim's size and 960×540.
    const auto ladder = default_bench_sizes();
    EXPECT_NE(std::find_if(ladder.begin(), ladder.end(), [](InputSize s) { return s.tokens() == 70225; }), ladder.end());
    EXPECT_NE(std::find_if(ladder.begin(), ladder.end(), [](InputSize s) { return s.width == 960 && s.height == 540; }),
              ladder.end());
}

TEST(BenchMeasure, TimeEstimateIsLinearForNalaAndQuadraticForSoftmax) {
    const BenchPoint nala = point(AttentionKind::Nala, 100, PointStatus::Measured, 1, 1);
    const BenchPoint softmax = point(AttentionKind::Softmax, 100, PointStatus::Measured, 1, 1);
    EXPECT_DOUBLE_EQ(estimate_run_seconds(nala, 40000), 8.0);       // 4× the tokens
    EXPECT_DOUBLE_EQ(estimate_run_seconds(softmax, 40000), 32.0);  // 16×
}

TEST(BenchResults, ReductionUsesObservedWhenMeasuredElsePlanned) {
    const std::vector<BenchPoint> points = {
        point(AttentionKind::Nala, 265, PointStatus::Measured, 1000, 990),
        point(AttentionKind::Softmax, 265, PointStatus::TooLarge, 40000, 0),
        point(AttentionKind::Nala, 64, PointStatus::Measured, 100, 100),
        point(AttentionKind::Softmax, 64, PointStatus::Measured, 400, 410),
        point(AttentionKind::Pola, 64, PointStatus::Measured, 100, 100),
        point(AttentionKind::Nala, 32, PointStatus::Measured, 50, 50),  // no softmax at 32: no entry
    };
    const auto reductions = memory_reductions(points);
    ASSERT_EQ(reductions.size(), 2u);
    EXPECT_EQ(reductions[0].size.width, 265);
    EXPECT_TRUE(reductions[0].nala_measured);
    EXPECT_FALSE(reductions[0].softmax_measured);
    EXPECT_DOUBLE_EQ(reductions[0].reduction(), 1.0 - 990.0 / 40000.0);
    EXPECT_TRUE(reductions[1].softmax_measured);
    EXPECT_DOUBLE_EQ(reductions[1].reduction(), 1.0 - 100.0 / 410.0);
}

TEST(BenchResults, CsvRowsHaveTheHeadersColumns) {
    std::vector<BenchPoint> points = {point(AttentionKind::Nala, 64, PointStatus::Measured, 100, 100),
                                      point(AttentionKind::Softmax, 265, PointStatus::Skipped, 400, 0)};
    points[1].estimated_seconds = 120;
    points[0].backend = "cuda:0 (a \"GPU\", with commas)";  // quoted as CSV requires
    const std::string csv = bench_csv(points);
    ASSERT_EQ(csv.back(), '\n');
    const auto lines = split(csv.substr(0, csv.size() - 1), '\n');
    ASSERT_EQ(lines.size(), 3u);
    const auto header = split(lines[0], ',');
    EXPECT_EQ(header[0], "device");
    EXPECT_EQ(split(lines[2], ',').size(), header.size());
    EXPECT_NE(lines[1].find("\"cuda:0 (a \"\"GPU\"\", with commas)\""), std::string::npos);
    EXPECT_NE(lines[2].find(",skipped,"), std::string::npos);
}

TEST(BenchPlot, ScriptHasOneBlockPerSeriesAndMarksTheClaim) {
    const std::vector<BenchPoint> points = {
        point(AttentionKind::Nala, 64, PointStatus::Measured, 100, 100),
        point(AttentionKind::Nala, 512, PointStatus::Measured, 900, 900),
        point(AttentionKind::Softmax, 64, PointStatus::Measured, 400, 400),
        point(AttentionKind::Softmax, 512, PointStatus::TooLarge, 1u << 30, 0),
    };
    const std::string script = bench_gnuplot_script(points, "title", "bench");
    EXPECT_NE(script.find("$nala_cpu << EOD"), std::string::npos);
    EXPECT_NE(script.find("$softmax_cpu << EOD"), std::string::npos);
    EXPECT_NE(script.find("set arrow from 70225"), std::string::npos);  // 64² … 512² spans 70,225 tokens
    EXPECT_NE(script.find("pngcairo"), std::string::npos);
    EXPECT_NE(script.find("terminal svg"), std::string::npos);
    EXPECT_NE(script.find("262144 1073741824 ? ?"), std::string::npos);  // not run: planned only
}

// The CLI tests' fixture: a temporary folder with a tiny random x2 model (C=16, h=2, one block).
class BenchCliTest : public test::CliTest {};

TEST_F(BenchCliTest, SweepWritesCsvJsonAndShowsSoftmaxGrowingFaster) {
    const fs::path out = dir_ / "out";
    const CliRun run = run_cli({"bench", "-m", model_.string(), "--device", "cpu", "--sizes", "16,40", "--warmup", "0",
                                "--repeats", "1", "--threads", "1", "--out", out.string()});
    std::printf("%s", run.output.c_str());
    ASSERT_EQ(run.exit_code, 0);

    const auto csv = read_lines(out / "bench.csv");
    ASSERT_EQ(csv.size(), 7u);  // header + 3 kinds × 2 sizes
    const std::vector<std::string> columns = split(csv[0], ',');
    for (const char* column : {"device", "attention", "tokens", "status", "planned_peak_bytes", "observed_peak_bytes",
                               "median_seconds", "input_megapixels_per_second"})
        EXPECT_NE(std::find(columns.begin(), columns.end(), column), columns.end()) << column;
    for (std::size_t i = 1; i < csv.size(); ++i) EXPECT_EQ(split(csv[i], ',').size(), columns.size()) << csv[i];

    std::ifstream json_file(out / "bench.json");
    const auto json = nlohmann::json::parse(json_file, nullptr, false);
    ASSERT_FALSE(json.is_discarded());
    ASSERT_EQ(json["points"].size(), 6u);
    std::map<std::string, std::map<int, std::size_t>> observed;  // kind → side → bytes
    for (const auto& p : json["points"]) {
        ASSERT_EQ(p["status"], "measured") << p.dump();
        EXPECT_GT(p["median_seconds"].get<double>(), 0.0);
        observed[p["attention"]][p["width"]] = p["observed_peak_bytes"].get<std::size_t>();
    }
    const double nala_growth = double(observed["nala"][40]) / double(observed["nala"][16]);
    const double softmax_growth = double(observed["softmax"][40]) / double(observed["softmax"][16]);
    std::printf("  observed peak 16² → 40² (6.25× the tokens): nala ×%.2f, softmax ×%.2f\n", nala_growth, softmax_growth);
    EXPECT_GT(softmax_growth, nala_growth);
    EXPECT_GT(softmax_growth, 6.25);  // faster than linear

    ASSERT_EQ(json["memory_reduction"].size(), 2u);
    EXPECT_EQ(json["memory_reduction"][1]["softmax_peak"], "measured");
    EXPECT_GT(json["memory_reduction"][1]["reduction"].get<double>(), json["memory_reduction"][0]["reduction"].get<double>());
    EXPECT_NE(run.output.find("nala saves"), std::string::npos);

    if (gnuplot_available()) {
        EXPECT_GT(fs::file_size(out / "bench.png"), 1000u);
        EXPECT_GT(fs::file_size(out / "bench.svg"), 1000u);
    } else {
        EXPECT_NE(run.output.find("gnuplot is not installed"), std::string::npos);
    }
}

TEST_F(BenchCliTest, PointsThatDoNotFitOrTakeTooLongAreReportedNotRun) {
    // 4096² softmax needs 4096⁴·4 bytes of scores: far beyond any machine. The second nala size is estimated
    // over a 1 ms budget.
    const CliRun run = run_cli({"bench", "-m", model_.string(), "--device", "cpu", "--sizes", "8,4096", "--attention",
                                "nala,softmax", "--warmup", "0", "--repeats", "1", "--max-seconds", "0.001",
                                "--threads", "1"});
    std::printf("%s", run.output.c_str());
    ASSERT_EQ(run.exit_code, 0);
    EXPECT_NE(run.output.find("skipped (est."), std::string::npos);
    EXPECT_NE(run.output.find("not run: would need"), std::string::npos);
    EXPECT_NE(run.output.find("predicted"), std::string::npos);
}

TEST_F(BenchCliTest, MaxFindsALargerSquareForNalaThanForSoftmax) {
    const fs::path out = dir_ / "max";
    const CliRun run = run_cli({"bench", "-m", model_.string(), "--device", "cpu", "--max", "--attention",
                                "nala,softmax", "--out", out.string()});
    std::printf("%s", run.output.c_str());
    ASSERT_EQ(run.exit_code, 0);
    std::ifstream json_file(out / "bench_max.json");
    const auto json = nlohmann::json::parse(json_file, nullptr, false);
    ASSERT_FALSE(json.is_discarded());
    ASSERT_EQ(json["largest_square"].size(), 2u);
    const int nala = json["largest_square"][0]["side"], softmax = json["largest_square"][1]["side"];
    EXPECT_GT(softmax, 0);
    EXPECT_GT(nala, 4 * softmax);
    for (const auto& r : json["largest_square"])
        EXPECT_LE(r["planned_peak_bytes"].get<std::size_t>(), r["available_bytes"].get<std::size_t>());
}

TEST_F(BenchCliTest, BadArgumentsAreSetupErrors) {
    for (const auto& args : std::vector<std::vector<std::string>>{{"--sizes", "64,abc"},
                                                                  {"--attention", "nala,linear"},
                                                                  {"--device", "tpu"}}) {
        std::vector<std::string> full = {"bench", "-m", model_.string()};
        full.insert(full.end(), args.begin(), args.end());
        const CliRun run = run_cli(full);
        EXPECT_EQ(run.exit_code, 2) << args[1];
        EXPECT_NE(run.output.find("error"), std::string::npos) << run.output;
    }
}

}  // namespace
}  // namespace nalasr::cli
