// Progress of a batch that runs on one or several devices, safe to call from every device's thread. With one
// device it is ProgressDisplay (progress_display.h) unchanged. With several, on a terminal one redrawn line shows
// each device's current file and %, the files done, the throughput and the batch's ETA; otherwise (logs, pipes)
// plain lines name the device, at each stage change and every 25 % of an image.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "progress_display.h"

namespace nalasr::cli {

class BatchProgress {
public:
    // `devices`: a short label per device ("cuda:0").
    BatchProgress(std::FILE* stream, bool interactive, std::vector<std::string> devices, std::size_t total_files);
    // Device `device` starts on file `index` (0-based) of `megapixels` input pixels.
    void start_file(std::size_t device, std::size_t index, const std::string& name, double megapixels);
    // The engine's ProgressFn for the device's current file.
    void update(std::size_t device, double fraction, const char* stage);
    // The device is done with its current file (any outcome). `handed_on`: the file moves to another device, so
    // it does not count as done yet.
    void finish_file(std::size_t device, bool handed_on);
    // Prints a result: clears the bar, runs `print`, counts the file as reported.
    void report(const std::function<void()>& print);

private:
    using Clock = std::chrono::steady_clock;
    struct Current {  // a device's file in progress
        bool active = false;
        std::string name;
        std::string label;  // "[3/10] name"
        std::string stage;
        double fraction = 0, megapixels = 0;
        int quarter = -1;
        Clock::time_point start;
    };
    void draw_line(Clock::time_point now);
    void clear_line();
    std::string eta_text() const;

    std::mutex mutex_;
    ProgressDisplay single_;  // used when there is one device
    std::FILE* stream_;
    bool interactive_;
    std::vector<std::string> devices_;
    std::vector<Current> current_;
    std::size_t total_, reported_ = 0, engine_files_ = 0;
    double engine_megapixels_ = 0;
    Clock::time_point first_start_, last_draw_;
    bool started_ = false, drawn_ = false;
};

}  // namespace nalasr::cli
