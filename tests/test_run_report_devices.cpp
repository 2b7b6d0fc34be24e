// The per-device part of `nalasr upscale`'s results (app/cli/run_report.h): each device's files and
// megapixels, and the run's throughput, in the summary line and in the --report JSON.
#include <gtest/gtest.h>

#include "run_report.h"

using namespace nalasr::cli;

namespace {

RunSummary two_gpu_run() {
    RunSummary summary;
    summary.backend = "cuda:0 (NVIDIA H100 80GB HBM3), cuda:1 (NVIDIA H100 80GB HBM3)";
    DeviceShare first, second;
    first.processed = 12;
    first.megapixels = 40.25;
    first.busy_seconds = 3.5;
    second.processed = 8;
    second.megapixels = 24.5;
    second.failed = 1;
    second.handed_on = 2;
    summary.devices = {{"cuda:0 (NVIDIA H100 80GB HBM3)", first}, {"cuda:1 (NVIDIA H100 80GB HBM3)", second}};
    summary.batch_seconds = 4;
    return summary;
}

}  // namespace

TEST(RunReportDevices, SummaryLineGivesThroughputAndEachDevicesShare) {
    EXPECT_EQ(throughput_text(two_gpu_run()),
              "5.00 images/s, 16.2 MP/s (cuda:0 12 file(s) 40.2 MP, cuda:1 8 file(s) 24.5 MP)");
    RunSummary one = two_gpu_run();
    one.devices.resize(1);
    EXPECT_EQ(throughput_text(one), "3.00 images/s, 10.1 MP/s");  // one device: no breakdown
    one.devices[0].share.megapixels = 0.012;
    one.batch_seconds = 60;
    EXPECT_EQ(throughput_text(one), "0.200 images/s, 0.0002 MP/s");
    EXPECT_EQ(throughput_text(RunSummary{}), "");  // nothing upscaled
}

TEST(RunReportDevices, JsonHasOneEntryPerDeviceAndTheRunsThroughput) {
    const nlohmann::ordered_json json = report_json(two_gpu_run());
    ASSERT_EQ(json["devices"].size(), 2u);
    EXPECT_EQ(json["devices"][0]["device"], "cuda:0 (NVIDIA H100 80GB HBM3)");
    EXPECT_EQ(json["devices"][0]["files"], 12);
    EXPECT_DOUBLE_EQ(json["devices"][0]["megapixels"].get<double>(), 40.25);
    EXPECT_DOUBLE_EQ(json["devices"][0]["busy_seconds"].get<double>(), 3.5);
    EXPECT_EQ(json["devices"][1]["failed"], 1);
    EXPECT_EQ(json["devices"][1]["handed_on"], 2);
    EXPECT_EQ(json["totals"]["upscaled"], 20);
    EXPECT_DOUBLE_EQ(json["totals"]["megapixels"].get<double>(), 64.75);
    EXPECT_DOUBLE_EQ(json["totals"]["images_per_second"].get<double>(), 5.0);
    EXPECT_DOUBLE_EQ(json["totals"]["megapixels_per_second"].get<double>(), 64.75 / 4);
}
