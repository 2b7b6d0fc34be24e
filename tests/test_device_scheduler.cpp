// The multi-device scheduler (app/cli/device_scheduler.h) with fake devices of different speeds, one that fails
// on some items and one with too little memory; then run_batch (app/cli/batch_runner.h) on several fake engines:
// the same files as on one, in job order, an image too large for one engine moved to the other.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "batch_runner.h"
#include "device_scheduler.h"
#include "nalasr/engine.h"
#include "fake_engine.h"
#include "test_cli_support.h"

namespace fs = std::filesystem;
using namespace nalasr;
using namespace nalasr::test;
using cli::DeviceShare;
using cli::ItemOutcome;
using cli::ItemReport;

namespace {

using std::chrono::milliseconds;

// Item i is (i + 1) megapixels, so that shares can be checked by sum.
double megapixels_of(std::size_t index) { return double(index + 1); }

// Every call to every fake device, in the order they happened.
struct CallLog {
    struct Call {
        std::size_t device, index;
        bool last_try;
        bool stop_already_asked;  // the stop flag was set when process() began
        ItemOutcome outcome;
    };
    std::mutex mutex;
    std::vector<Call> calls;

    void add(const Call& call) {
        std::lock_guard lock(mutex);
        calls.push_back(call);
    }
    // How often each item ended with `outcome`.
    std::map<std::size_t, int> count(ItemOutcome outcome) {
        std::map<std::size_t, int> counts;
        for (const Call& c : calls)
            if (c.outcome == outcome) ++counts[c.index];
        return counts;
    }
};

// A device that takes `per_item` per item. `refuse` says which items it fails (Failed) and `too_large` which
// ones do not fit its memory; `stop_at` sets the stop flag while it works on that item (a Ctrl-C), which then
// comes back Cancelled.
class FakeDevice : public cli::ScheduledDevice {
public:
    FakeDevice(std::size_t number, milliseconds per_item, CallLog& log, std::atomic<bool>& stop)
        : number_(number), per_item_(per_item), log_(log), stop_(stop) {}

    std::set<std::size_t> refuse, too_large;
    std::size_t stop_at = SIZE_MAX;

    ItemReport process(std::size_t index, bool last_try) override {
        const bool stop_already_asked = stop_.load();
        std::this_thread::sleep_for(per_item_);
        ItemOutcome outcome = ItemOutcome::Processed;
        if (index == stop_at) {
            stop_ = true;
            outcome = ItemOutcome::Cancelled;
        } else if (refuse.count(index)) {
            outcome = ItemOutcome::Failed;
        } else if (too_large.count(index)) {
            outcome = ItemOutcome::TooLarge;
        }
        log_.add({number_, index, last_try, stop_already_asked, outcome});
        return {outcome, megapixels_of(index)};
    }

private:
    std::size_t number_;
    milliseconds per_item_;
    CallLog& log_;
    std::atomic<bool>& stop_;
};

class SchedulerTest : public ::testing::Test {
protected:
    FakeDevice& add_device(milliseconds per_item) {
        devices_.push_back(std::make_unique<FakeDevice>(devices_.size(), per_item, log_, stop_));
        return *devices_.back();
    }
    std::vector<DeviceShare> run(std::size_t count) {
        std::vector<cli::ScheduledDevice*> devices;
        for (auto& d : devices_) devices.push_back(d.get());
        return cli::run_on_devices(count, devices, [&] { return stop_.load(); });
    }

    CallLog log_;
    std::atomic<bool> stop_{false};
    std::vector<std::unique_ptr<FakeDevice>> devices_;
};

}  // namespace

TEST_F(SchedulerTest, EveryItemIsProcessedExactlyOnceAndCounted) {
    for (int d = 0; d < 3; ++d) add_device(milliseconds(1));
    constexpr std::size_t kItems = 60;
    const std::vector<DeviceShare> shares = run(kItems);
    ASSERT_EQ(shares.size(), 3u);
    const auto processed = log_.count(ItemOutcome::Processed);
    ASSERT_EQ(processed.size(), kItems);
    for (const auto& [index, times] : processed) EXPECT_EQ(times, 1) << "item " << index;
    EXPECT_EQ(log_.calls.size(), kItems);

    int total = 0;
    double megapixels = 0;
    for (std::size_t d = 0; d < shares.size(); ++d) {
        double mine = 0;
        int count = 0;
        for (const auto& c : log_.calls)
            if (c.device == d) mine += megapixels_of(c.index), ++count;
        EXPECT_EQ(shares[d].processed, count) << d;
        EXPECT_DOUBLE_EQ(shares[d].megapixels, mine) << d;
        EXPECT_GT(shares[d].busy_seconds, 0) << d;
        EXPECT_EQ(shares[d].failed, 0);
        total += shares[d].processed;
        megapixels += shares[d].megapixels;
    }
    EXPECT_EQ(total, int(kItems));
    EXPECT_DOUBLE_EQ(megapixels, kItems * (kItems + 1) / 2.0);
}

TEST_F(SchedulerTest, OneDeviceTakesTheItemsInOrder) {
    add_device(milliseconds(0));
    const std::vector<DeviceShare> shares = run(20);
    ASSERT_EQ(log_.calls.size(), 20u);
    for (std::size_t i = 0; i < 20; ++i) {
        EXPECT_EQ(log_.calls[i].index, i);
        EXPECT_TRUE(log_.calls[i].last_try);  // nobody else could take it
    }
    EXPECT_EQ(shares[0].processed, 20);
}

TEST_F(SchedulerTest, FasterDeviceTakesMoreItems) {
    add_device(milliseconds(2));   // fast
    add_device(milliseconds(16));  // eight times slower
    const std::vector<DeviceShare> shares = run(80);
    EXPECT_EQ(shares[0].processed + shares[1].processed, 80);
    // Ideally 71 : 9; allow a loaded machine plenty of slack.
    EXPECT_GT(shares[0].processed, 3 * shares[1].processed) << shares[0].processed << " vs " << shares[1].processed;
    EXPECT_GT(shares[1].processed, 0);  // the slow one still helps
}

TEST_F(SchedulerTest, FailingItemsAreReportedAndTheRunGoesOn) {
    FakeDevice& flaky = add_device(milliseconds(1));
    add_device(milliseconds(1));
    flaky.refuse = {3, 7, 8, 20};
    const std::vector<DeviceShare> shares = run(30);
    // Each item was given out once: a failure is final (another device would not change a bad file).
    EXPECT_EQ(log_.calls.size(), 30u);
    const auto failed = log_.count(ItemOutcome::Failed);
    for (const auto& [index, times] : failed) {
        EXPECT_TRUE(flaky.refuse.count(index)) << index;
        EXPECT_EQ(times, 1);
    }
    EXPECT_EQ(shares[0].failed, int(failed.size()));
    EXPECT_EQ(shares[0].processed + shares[1].processed + shares[0].failed, 30);
    for (std::size_t i = 0; i < 30; ++i)
        EXPECT_EQ(log_.count(ItemOutcome::Processed)[i] + (failed.count(i) ? 1 : 0), 1) << i;
}

TEST_F(SchedulerTest, ItemTooLargeForOneDeviceMovesToAnother) {
    FakeDevice& small = add_device(milliseconds(1));
    add_device(milliseconds(3));  // big enough for everything
    small.too_large = {0, 5, 6, 11};
    const std::vector<DeviceShare> shares = run(12);
    const auto processed = log_.count(ItemOutcome::Processed);
    ASSERT_EQ(processed.size(), 12u);
    for (const auto& [index, times] : processed) EXPECT_EQ(times, 1) << index;
    for (const auto& c : log_.calls)
        if (small.too_large.count(c.index) && c.outcome == ItemOutcome::Processed) EXPECT_EQ(c.device, 1u) << c.index;
    EXPECT_EQ(shares[0].failed + shares[1].failed, 0);
    EXPECT_EQ(shares[0].handed_on, int(log_.count(ItemOutcome::TooLarge).size()));
    EXPECT_EQ(shares[1].handed_on, 0);
}

TEST_F(SchedulerTest, ItemTooLargeForEveryDeviceFailsOnceOnTheLastTry) {
    for (int d = 0; d < 3; ++d) add_device(milliseconds(1)).too_large = {4};
    const std::vector<DeviceShare> shares = run(10);
    std::vector<CallLog::Call> tries;
    for (const auto& c : log_.calls)
        if (c.index == 4) tries.push_back(c);
    ASSERT_EQ(tries.size(), 3u);  // once on each device
    std::set<std::size_t> devices;
    for (std::size_t t = 0; t < tries.size(); ++t) {
        devices.insert(tries[t].device);
        EXPECT_EQ(tries[t].last_try, t == 2) << t;
    }
    EXPECT_EQ(devices.size(), 3u);
    int failed = 0, handed_on = 0, processed = 0;
    for (const DeviceShare& s : shares) failed += s.failed, handed_on += s.handed_on, processed += s.processed;
    EXPECT_EQ(failed, 1);
    EXPECT_EQ(handed_on, 2);
    EXPECT_EQ(processed, 9);
}

TEST_F(SchedulerTest, OnASingleDeviceTooLargeIsAFailure) {
    add_device(milliseconds(0)).too_large = {1};
    const std::vector<DeviceShare> shares = run(3);
    EXPECT_EQ(log_.calls.size(), 3u);
    EXPECT_EQ(shares[0].failed, 1);
    EXPECT_EQ(shares[0].handed_on, 0);
    EXPECT_EQ(shares[0].processed, 2);
}

TEST_F(SchedulerTest, StopEndsEveryDeviceAndStartsNothingMore) {
    for (int d = 0; d < 3; ++d) add_device(milliseconds(5)).stop_at = 10;  // whichever device gets item 10
    const auto start = std::chrono::steady_clock::now();
    const std::vector<DeviceShare> shares = run(1000);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
    // A device that took its item just before the stop may begin it just after; nothing is taken after it.
    int late = 0;
    for (const auto& c : log_.calls) late += c.stop_already_asked;
    EXPECT_LE(late, 2);
    EXPECT_LT(log_.calls.size(), 20u);  // item 10 plus what the other two devices had in hand
    EXPECT_EQ(log_.count(ItemOutcome::Cancelled).size(), 1u);
    int processed = 0;
    for (const DeviceShare& s : shares) processed += s.processed;
    EXPECT_EQ(processed, int(log_.calls.size()) - 1);
}

TEST_F(SchedulerTest, StopWhileAnItemWaitsToBeHandedOn) {
    // Device 0 refuses item 0 while device 1 is busy; the stop comes before device 1 is free: the run ends.
    FakeDevice& small = add_device(milliseconds(1));
    FakeDevice& slow = add_device(milliseconds(30));
    small.too_large = {0, 1, 2, 3};
    slow.stop_at = 0;
    run(4);
    SUCCEED();  // returning at all is the test
}

TEST_F(SchedulerTest, NothingToDo) {
    add_device(milliseconds(0));
    add_device(milliseconds(0));
    const std::vector<DeviceShare> shares = run(0);
    EXPECT_EQ(shares.size(), 2u);
    EXPECT_TRUE(log_.calls.empty());
}

// ---- run_batch on several engines ----

namespace {


class MultiEngineBatchTest : public CliTest {
protected:
    // Inputs f100.png ... with the given widths; outputs planned into `out`.
    std::vector<cli::Job> make_jobs(const std::vector<int>& widths, const fs::path& out) {
        std::vector<cli::Job> jobs;
        for (std::size_t i = 0; i < widths.size(); ++i) {
            cli::Job job;
            job.input = dir_ / ("f" + std::to_string(100 + i) + ".png");
            job.output = out / job.input.filename();
            if (!fs::exists(job.input))
                EXPECT_TRUE(save_image(job.input, random_image(widths[i], 5, 3, SampleType::U8, unsigned(i))).is_ok());
            jobs.push_back(job);
        }
        fs::create_directories(out);
        return jobs;
    }
    // Runs the jobs to the end; the results in the order they were handed on.
    static std::vector<cli::FileResult> run_all(const std::vector<cli::Job>& jobs,
                                                const std::vector<const Engine*>& engines,
                                                std::vector<DeviceShare>* shares, const cli::BatchSettings& settings = {}) {
        std::vector<cli::FileResult> results;
        *shares = cli::run_batch(jobs, engines, settings, [] { return false; },
                                 [&](cli::FileResult r) { results.push_back(std::move(r)); });
        return results;
    }
};

}  // namespace

TEST_F(MultiEngineBatchTest, TwoEnginesWriteWhatOneWritesInJobOrder) {
    std::vector<int> widths;
    for (int i = 0; i < 16; ++i) widths.push_back(3 + (i * 5) % 11);
    widths[3] = 40;  // too large for the first engine only
    widths[9] = 45;
    const std::vector<cli::Job> one_jobs = make_jobs(widths, dir_ / "one");
    const std::vector<cli::Job> two_jobs = make_jobs(widths, dir_ / "two");

    FakeEngine reference("cuda:0 (fake big)", 100, milliseconds(1));
    std::vector<DeviceShare> shares;
    for (const cli::FileResult& r : run_all(one_jobs, {&reference}, &shares)) EXPECT_TRUE(r.status) << r.status.message();

    FakeEngine small("cuda:0 (fake small)", 20, milliseconds(1));
    FakeEngine big("cuda:1 (fake big)", 100, milliseconds(4));
    const std::vector<cli::FileResult> results = run_all(two_jobs, {&small, &big}, &shares);

    ASSERT_EQ(results.size(), two_jobs.size());
    for (std::size_t i = 0; i < results.size(); ++i) {
        EXPECT_EQ(results[i].input, two_jobs[i].input.string()) << "job order";
        EXPECT_TRUE(results[i].status) << results[i].status.message();
        EXPECT_EQ(read_text(two_jobs[i].output), read_text(one_jobs[i].output)) << i;
    }
    EXPECT_EQ(results[3].stats.backend, "cuda:1 (fake big)");
    EXPECT_EQ(results[9].stats.backend, "cuda:1 (fake big)");
    ASSERT_EQ(shares.size(), 2u);
    EXPECT_EQ(shares[0].processed + shares[1].processed, 16);
    EXPECT_GT(shares[0].processed, 0);
    EXPECT_EQ(shares[0].failed + shares[1].failed, 0);
    double megapixels = 0;
    for (int w : widths) megapixels += w * 5 / 1e6;
    EXPECT_NEAR(shares[0].megapixels + shares[1].megapixels, megapixels, 1e-9);
}

TEST_F(MultiEngineBatchTest, TooLargeForEveryEngineIsReportedOnceAndTheBatchGoesOn) {
    const std::vector<cli::Job> jobs = make_jobs({4, 60, 5, 6}, dir_ / "out");
    FakeEngine a("cuda:0 (a)", 20, milliseconds(0)), b("cuda:1 (b)", 30, milliseconds(0));
    std::vector<DeviceShare> shares;
    const std::vector<cli::FileResult> results = run_all(jobs, {&a, &b}, &shares);
    ASSERT_EQ(results.size(), 4u);
    EXPECT_EQ(results[1].status.code(), StatusCode::OutOfMemory);
    EXPECT_EQ(results[1].status.message().rfind(jobs[1].input.string() + ": needs 9.0 GiB", 0), 0u)
        << results[1].status.message();
    EXPECT_FALSE(fs::exists(jobs[1].output));
    for (std::size_t i : {0, 2, 3}) EXPECT_TRUE(results[i].status) << i;
    EXPECT_EQ(shares[0].failed + shares[1].failed, 1);
    EXPECT_EQ(shares[0].handed_on + shares[1].handed_on, 1);
}

TEST_F(MultiEngineBatchTest, UnreadableFilesFailWithoutCountingAgainstADevice) {
    std::vector<cli::Job> jobs = make_jobs({4, 5, 6}, dir_ / "out");
    write_text(jobs[1].input, "not an image");
    FakeEngine a("cuda:0 (a)", 100, milliseconds(0)), b("cuda:1 (b)", 100, milliseconds(0));
    std::vector<DeviceShare> shares;
    const std::vector<cli::FileResult> results = run_all(jobs, {&a, &b}, &shares);
    ASSERT_EQ(results.size(), 3u);
    EXPECT_EQ(results[1].status.code(), StatusCode::UnsupportedFormat) << results[1].status.message();
    EXPECT_EQ(a.calls.load() + b.calls.load(), 2);
    EXPECT_EQ(shares[0].processed + shares[1].processed, 2);
    EXPECT_EQ(shares[0].failed + shares[1].failed, 0);
}

// While the first file takes long on one device, the other one finishes and writes many later files: their
// results wait to be reported in order, but the write slots (-j 1) must not wait with them.
TEST_F(MultiEngineBatchTest, ALongFirstFileDoesNotHoldUpTheWrites) {
    std::vector<int> widths(12, 4);
    widths[0] = 7;
    const std::vector<cli::Job> jobs = make_jobs(widths, dir_ / "out");
    FakeEngine a("cuda:0 (a)", 100, milliseconds(0)), b("cuda:1 (b)", 100, milliseconds(0));
    a.slow_width = b.slow_width = 7;
    a.slow_delay = b.slow_delay = milliseconds(300);
    cli::BatchSettings settings;
    settings.workers = 1;
    std::vector<DeviceShare> shares;
    const std::vector<cli::FileResult> results = run_all(jobs, {&a, &b}, &shares, settings);
    ASSERT_EQ(results.size(), jobs.size());
    for (std::size_t i = 0; i < jobs.size(); ++i) EXPECT_EQ(results[i].input, jobs[i].input.string());
    EXPECT_EQ(shares[0].processed + shares[1].processed, 12);
}

TEST_F(MultiEngineBatchTest, StopCancelsEveryEngine) {
    const std::vector<cli::Job> jobs = make_jobs(std::vector<int>(12, 4), dir_ / "out");
    FakeEngine a("cuda:0 (a)", 100, milliseconds(20)), b("cuda:1 (b)", 100, milliseconds(20));
    std::vector<cli::FileResult> results;
    cli::run_batch(jobs, {&a, &b}, {}, [&] { return a.calls.load() + b.calls.load() >= 3; },
                   [&](cli::FileResult r) { results.push_back(std::move(r)); });
    EXPECT_LE(a.calls.load() + b.calls.load(), 4);  // the third call, plus one already running on the other device
    EXPECT_LT(results.size(), jobs.size());
    for (std::size_t i = 0; i < results.size(); ++i) {
        const bool written = fs::exists(fs::path(results[i].output));
        EXPECT_EQ(written, results[i].status.is_ok()) << results[i].input << ": " << results[i].status.message();
    }
    EXPECT_TRUE(temp_files_below(dir_ / "out").empty());
}
