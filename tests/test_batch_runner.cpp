// run_batch (app/cli/batch_runner.h) against a fake engine (fake_engine.h): results in job order whatever -j is, a failure
// of the engine (GPU out of memory) reported for its file while the batch goes on, and stopping on request.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "batch_runner.h"
#include "nalasr/engine.h"
#include "fake_engine.h"
#include "test_cli_support.h"

namespace fs = std::filesystem;
using namespace nalasr;
using namespace nalasr::test;

namespace {

class BatchRunnerTest : public CliTest {
protected:
    // Inputs f00.png ... with widths from `widths`, planned into out/.
    std::vector<cli::Job> make_jobs(const std::vector<int>& widths) {
        std::vector<cli::Job> jobs;
        for (std::size_t i = 0; i < widths.size(); ++i) {
            cli::Job job;
            job.input = dir_ / ("f" + std::to_string(100 + i) + ".png");
            job.output = dir_ / "out" / job.input.filename();
            EXPECT_TRUE(save_image(job.input, random_image(widths[i], 3, 3, SampleType::U8, unsigned(i))).is_ok());
            jobs.push_back(job);
        }
        fs::create_directories(dir_ / "out");
        return jobs;
    }
};

}  // namespace

TEST_F(BatchRunnerTest, OutOfMemoryIsReportedPerFileAndTheBatchGoesOn) {
    const std::vector<cli::Job> jobs = make_jobs({4, 40, 5, 50, 6});
    FakeEngine engine("scripted", /*max_width=*/10);
    std::vector<cli::FileResult> results;
    cli::BatchSettings settings;
    settings.workers = 3;
    cli::run_batch(jobs, engine, settings, [] { return false; }, [&](cli::FileResult r) { results.push_back(std::move(r)); });
    ASSERT_EQ(results.size(), jobs.size());
    for (std::size_t i = 0; i < jobs.size(); ++i) {
        EXPECT_EQ(results[i].input, jobs[i].input.string());  // job order
        const bool too_big = i == 1 || i == 3;
        EXPECT_EQ(results[i].status.is_ok(), !too_big) << i;
        EXPECT_EQ(fs::exists(jobs[i].output), !too_big) << i;
        if (too_big) {
            EXPECT_EQ(results[i].status.code(), StatusCode::OutOfMemory);
            EXPECT_EQ(results[i].status.message().rfind(jobs[i].input.string() + ": needs 9.0 GiB", 0), 0u)
                << results[i].status.message();
        }
    }
}

// --cpu-fallback: what the GPU cannot hold goes to the CPU engine (with a warning saying so); the rest stays on
// the GPU; what neither can hold still fails with the CPU engine's out-of-memory message.
TEST_F(BatchRunnerTest, CpuFallbackTakesWhatNoGpuCanHold) {
    const std::vector<cli::Job> jobs = make_jobs({4, 40, 5, 50, 90});
    FakeEngine gpu("cuda:0 (fake)", /*max_width=*/10), cpu("cpu", /*max_width=*/60);
    std::vector<cli::FileResult> results;
    cli::BatchSettings settings;
    settings.workers = 3;
    settings.cpu_fallback = &cpu;
    cli::run_batch(jobs, gpu, settings, [] { return false; }, [&](cli::FileResult r) { results.push_back(std::move(r)); });
    ASSERT_EQ(results.size(), jobs.size());
    for (std::size_t i = 0; i < jobs.size(); ++i) {
        const bool on_cpu = i == 1 || i == 3, too_big = i == 4;
        EXPECT_EQ(results[i].status.is_ok(), !too_big) << i << ": " << results[i].status.message();
        if (!too_big) EXPECT_EQ(results[i].stats.backend, on_cpu ? "cpu" : "cuda:0 (fake)") << i;
        const bool warned = std::any_of(results[i].warnings.begin(), results[i].warnings.end(), [](const auto& w) {
            return w.find("upscaled on the CPU instead (--cpu-fallback)") != std::string::npos;
        });
        EXPECT_EQ(warned, on_cpu || too_big) << i;
    }
    EXPECT_EQ(results[4].status.code(), StatusCode::OutOfMemory);
    EXPECT_EQ(gpu.calls, 5);
    EXPECT_EQ(cpu.calls, 3);
}

TEST_F(BatchRunnerTest, ResultsStayInOrderWithManyWorkers) {
    std::vector<int> widths;
    for (int i = 0; i < 24; ++i) widths.push_back(1 + (i * 7) % 13);
    const std::vector<cli::Job> jobs = make_jobs(widths);
    FakeEngine engine("scripted", 100);
    for (int workers : {1, 2, 8}) {
        for (const auto& job : jobs) fs::remove(job.output);
        std::vector<std::string> order;
        cli::BatchSettings settings;
        settings.workers = workers;
        cli::run_batch(jobs, engine, settings, [] { return false; }, [&](cli::FileResult r) {
            EXPECT_TRUE(r.status.is_ok()) << r.status.message();
            order.push_back(r.input);
        });
        ASSERT_EQ(order.size(), jobs.size()) << workers;
        for (std::size_t i = 0; i < jobs.size(); ++i) EXPECT_EQ(order[i], jobs[i].input.string()) << workers;
    }
}

TEST_F(BatchRunnerTest, StopsStartingImagesWhenAsked) {
    const std::vector<cli::Job> jobs = make_jobs({4, 4, 4, 4, 4, 4});
    FakeEngine engine("scripted", 100);
    std::vector<cli::FileResult> results;
    cli::run_batch(jobs, engine, {}, [&] { return engine.calls.load() >= 2; },
                   [&](cli::FileResult r) { results.push_back(std::move(r)); });
    EXPECT_EQ(engine.calls.load(), 2);
    ASSERT_EQ(results.size(), 2u);
    EXPECT_TRUE(results[0].status.is_ok());
    EXPECT_EQ(results[1].status.code(), StatusCode::Cancelled);  // asked to stop while it ran
    EXPECT_FALSE(fs::exists(jobs[1].output));
    EXPECT_TRUE(fs::exists(jobs[0].output));
}
