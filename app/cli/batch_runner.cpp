#include "batch_runner.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <future>
#include <mutex>
#include <semaphore>
#include <string>
#include <thread>
#include <utility>

#include "batch_progress.h"
#include "batch_stages.h"
#include "read_ahead.h"

namespace nalasr::cli {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// A short label for an engine's device, for progress lines: "cuda:1" for "cuda:1 (NVIDIA H100 80GB HBM3)".
std::string device_label(const Engine& engine) {
    const std::string name = engine.backend_name();
    return name.substr(0, name.find(" ("));
}

// Results in job order: devices deliver them in any order, the calling thread hands them on in order.
class OrderedResults {
public:
    explicit OrderedResults(std::size_t count) : slots_(count) {}

    void deliver(std::size_t index, std::future<FileResult> result) {
        {
            std::lock_guard lock(mutex_);
            slots_[index] = std::move(result);
        }
        changed_.notify_all();
    }
    // No more results will come: jobs never started are left out.
    void close() {
        {
            std::lock_guard lock(mutex_);
            closed_ = true;
        }
        changed_.notify_all();
    }
    // Calls `done` for every result in job order as it becomes ready, until all are handed on or closed.
    void hand_on(const std::function<void(FileResult)>& done) {
        for (std::size_t i = 0; i < slots_.size(); ++i) {
            std::future<FileResult> result;
            {
                std::unique_lock lock(mutex_);
                changed_.wait(lock, [&] { return slots_[i].valid() || closed_; });
                if (!slots_[i].valid()) continue;
                result = std::move(slots_[i]);
            }
            done(result.get());  // waits for the file's write, if any
        }
    }

private:
    std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<std::future<FileResult>> slots_;
    bool closed_ = false;
};

std::future<FileResult> ready(FileResult result, Clock::time_point start) {
    result.seconds = seconds_since(start);
    std::promise<FileResult> promise;
    promise.set_value(std::move(result));
    return promise.get_future();
}

// One of the `workers` writes allowed in flight: waits for a free one; gives it back when destroyed.
class WriteSlot {
public:
    explicit WriteSlot(std::counting_semaphore<>& slots) : slots_(&slots) { slots.acquire(); }
    WriteSlot(WriteSlot&& other) noexcept : slots_(std::exchange(other.slots_, nullptr)) {}
    WriteSlot& operator=(WriteSlot&&) = delete;
    ~WriteSlot() {
        if (slots_) slots_->release();
    }

private:
    std::counting_semaphore<>* slots_;
};

// What the devices of one batch share.
struct BatchContext {
    const std::vector<Job>& jobs;
    const BatchSettings& settings;
    const std::function<bool()>& should_stop;
    ReadAhead& read_ahead;
    OrderedResults& results;
    BatchProgress& progress;
    std::counting_semaphore<>& write_slots;  // bounds the writes in flight to `workers`
    std::mutex cpu_fallback_busy{};          // the CPU engine uses every core: one fallback image at a time
};

// One engine as a device of the scheduler: takes a job's decoded image, upscales it and starts its write.
class EngineDevice final : public ScheduledDevice {
public:
    EngineDevice(std::size_t number, const Engine& engine, BatchContext& batch)
        : number_(number), engine_(engine), batch_(batch) {}

    ItemReport process(std::size_t index, bool last_try) override {
        const auto start = Clock::now();
        try {
            return run(index, last_try, start);
        } catch (const std::exception& e) {  // e.g. no thread for the write: fail this file, not the batch
            FileResult r;
            r.input = batch_.jobs[index].input.string();
            r.status = {StatusCode::Internal, r.input + ": " + e.what()};
            batch_.results.deliver(index, ready(std::move(r), start));
            return {ItemOutcome::Failed};
        }
    }

private:
    ItemReport run(std::size_t index, bool last_try, Clock::time_point start) {
        Loaded loaded = batch_.read_ahead.take(index);
        if (!loaded.result.status || loaded.result.skipped) {  // reported as it is; the device had no part in it
            batch_.results.deliver(index, ready(std::move(loaded.result), start));
            return {ItemOutcome::Skipped};
        }
        const Job& job = batch_.jobs[index];
        const double megapixels = double(loaded.image.width) * loaded.image.height / 1e6;
        batch_.progress.start_file(number_, index, job.input.filename().string(), megapixels);
        UpscaleParams params;
        params.progress = [&](double fraction, const char* stage) { batch_.progress.update(number_, fraction, stage); };
        params.should_abort = batch_.should_stop;
        params.keep_input_colours = batch_.settings.keep_colours;
        params.tta = batch_.settings.tta;
        Upscaled up = engine_stage(loaded, job, engine_, batch_.settings, params);
        if (up.does_not_fit && last_try && batch_.settings.cpu_fallback) up = on_the_cpu(loaded, job, params);
        else if (up.does_not_fit && last_try && engine_.backend_name().rfind("cpu", 0) != 0)
            up.result.warnings.push_back("--cpu-fallback would upscale it on the CPU");
        const bool hand_on = up.does_not_fit && !last_try;
        batch_.progress.finish_file(number_, hand_on);

        if (hand_on) {
            loaded.result.warnings.push_back("too large for the free memory of " + device_label(engine_) +
                                             ", handed to another device");
            batch_.read_ahead.give_back(index, std::move(loaded));
            return {ItemOutcome::TooLarge};
        }
        if (!up.result.status) {
            const StatusCode code = up.result.status.code();
            batch_.results.deliver(index, ready(std::move(up.result), start));
            if (code == StatusCode::Cancelled) return {ItemOutcome::Cancelled};
            return {up.does_not_fit ? ItemOutcome::TooLarge : ItemOutcome::Failed};
        }
        loaded = Loaded();  // the input is no longer needed while the output waits for a write slot
        WriteSlot slot(batch_.write_slots);
        batch_.results.deliver(index, std::async(std::launch::async,
                                                 [this, start, slot = std::move(slot), up = std::move(up)]() mutable {
                                                     // Freed when the write ends, not when its result is reported.
                                                     const WriteSlot held = std::move(slot);
                                                     FileResult r = save_stage(std::move(up), batch_.settings);
                                                     r.seconds = seconds_since(start);
                                                     return r;
                                                 }));
        return {ItemOutcome::Processed, megapixels};
    }

    // No GPU could hold the image: upscale it on the CPU engine (host memory is usually larger), saying so.
    Upscaled on_the_cpu(Loaded& loaded, const Job& job, const UpscaleParams& params) {
        std::lock_guard<std::mutex> one_at_a_time(batch_.cpu_fallback_busy);
        loaded.result.warnings.push_back("too large for the free memory of " + device_label(engine_) +
                                         "; upscaled on the CPU instead (--cpu-fallback)");
        return engine_stage(loaded, job, *batch_.settings.cpu_fallback, batch_.settings, params);
    }

    const std::size_t number_;
    const Engine& engine_;
    BatchContext& batch_;
};

}  // namespace

std::vector<DeviceShare> run_batch(const std::vector<Job>& jobs, const std::vector<const Engine*>& engines,
                                   const BatchSettings& settings, const std::function<bool()>& should_stop,
                                   const std::function<void(FileResult)>& done) {
    if (engines.empty()) return {};
    const std::size_t workers = std::size_t(std::max(1, settings.workers));
    std::vector<std::string> labels;
    for (const Engine* engine : engines) labels.push_back(device_label(*engine));
    BatchProgress progress(stderr, stderr_is_terminal(), labels, jobs.size());
    ReadAhead read_ahead(jobs, engines.front()->config().scale, settings, std::max(workers, engines.size()));
    OrderedResults results(jobs.size());
    std::counting_semaphore<> write_slots{std::ptrdiff_t(workers)};
    BatchContext batch{jobs, settings, should_stop, read_ahead, results, progress, write_slots};

    std::vector<EngineDevice> devices;
    devices.reserve(engines.size());
    for (std::size_t d = 0; d < engines.size(); ++d) devices.emplace_back(d, *engines[d], batch);
    std::vector<ScheduledDevice*> scheduled;
    for (EngineDevice& device : devices) scheduled.push_back(&device);

    std::vector<DeviceShare> shares;
    std::thread scheduler([&] {
        shares = run_on_devices(jobs.size(), scheduled, should_stop);
        results.close();
    });
    results.hand_on([&](FileResult r) { progress.report([&] { done(std::move(r)); }); });
    scheduler.join();
    return shares;
}

DeviceShare run_batch(const std::vector<Job>& jobs, const Engine& engine, const BatchSettings& settings,
                      const std::function<bool()>& should_stop, const std::function<void(FileResult)>& done) {
    return run_batch(jobs, std::vector<const Engine*>{&engine}, settings, should_stop, done).front();
}

}  // namespace nalasr::cli
