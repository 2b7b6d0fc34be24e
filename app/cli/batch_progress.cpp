#include "batch_progress.h"

#include <algorithm>

#include "text_format.h"

namespace nalasr::cli {
namespace {

// File names are cut to this many characters on the terminal line, which shows one per device.
constexpr std::size_t kNameWidth = 24;

std::string short_name(const std::string& name) {
    return name.size() <= kNameWidth ? name : name.substr(0, kNameWidth - 3) + "...";
}

}  // namespace

BatchProgress::BatchProgress(std::FILE* stream, bool interactive, std::vector<std::string> devices,
                             std::size_t total_files)
    : single_(stream, interactive, total_files),
      stream_(stream),
      interactive_(interactive),
      devices_(std::move(devices)),
      current_(devices_.size()),
      total_(total_files) {}

void BatchProgress::start_file(std::size_t device, std::size_t index, const std::string& name, double megapixels) {
    std::lock_guard lock(mutex_);
    if (devices_.size() == 1) return single_.start_file(index, name, megapixels);
    const auto now = Clock::now();
    if (!started_) first_start_ = now;
    started_ = true;
    Current& c = current_[device];
    c = Current{};
    c.active = true;
    c.name = name;
    char counter[48];
    std::snprintf(counter, sizeof(counter), "[%zu/%zu] ", index + 1, total_);
    c.label = counter;
    c.label += name;
    c.megapixels = megapixels;
    c.start = now;
}

void BatchProgress::update(std::size_t device, double fraction, const char* stage) {
    std::lock_guard lock(mutex_);
    if (devices_.size() == 1) return single_.update(fraction, stage);
    Current& c = current_[device];
    const auto now = Clock::now();
    const std::string stage_name = stage ? stage : "";
    c.fraction = std::clamp(fraction, 0.0, 1.0);
    if (!interactive_) {
        const int quarter = int(c.fraction * 4);
        if (stage_name == c.stage && quarter == c.quarter) return;
        std::fprintf(stream_, "%s on %s: %s %3.0f%% (%s; batch ETA %s)\n", c.label.c_str(), devices_[device].c_str(),
                     stage_name.c_str(), c.fraction * 100,
                     format_duration(std::chrono::duration<double>(now - c.start).count()).c_str(), eta_text().c_str());
        std::fflush(stream_);
        c.stage = stage_name;
        c.quarter = quarter;
        return;
    }
    c.stage = stage_name;
    // Redraw at most ~10 times a second.
    if (drawn_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
    draw_line(now);
}

void BatchProgress::finish_file(std::size_t device, bool handed_on) {
    std::lock_guard lock(mutex_);
    if (devices_.size() == 1) return single_.finish_file();
    Current& c = current_[device];
    if (!c.active) return;
    c.active = false;
    if (handed_on) return;
    ++engine_files_;
    engine_megapixels_ += c.megapixels;
}

void BatchProgress::report(const std::function<void()>& print) {
    std::lock_guard lock(mutex_);
    if (devices_.size() == 1) {
        single_.clear();
        single_.file_reported();
    } else {
        clear_line();
        ++reported_;
    }
    print();
}

// The files not yet through an engine at the mean wall time per engine file so far (with every device at work).
// Files that fail or are skipped take no time, so this errs long.
std::string BatchProgress::eta_text() const {
    if (engine_files_ == 0) return "--";
    const double elapsed = std::chrono::duration<double>(Clock::now() - first_start_).count();
    double remaining = double(total_) - double(engine_files_);
    for (const Current& c : current_)
        if (c.active) remaining -= c.fraction;
    return format_duration(std::max(0.0, remaining) * elapsed / double(engine_files_));
}

void BatchProgress::draw_line(Clock::time_point now) {
    std::string line = "\r\033[K[" + std::to_string(reported_) + "/" + std::to_string(total_) + " done]";
    for (std::size_t d = 0; d < current_.size(); ++d) {
        const Current& c = current_[d];
        char percent[16];
        std::snprintf(percent, sizeof(percent), " %3.0f%%", c.fraction * 100);
        line += " | " + devices_[d] + " " + (c.active ? short_name(c.name) + percent : std::string("idle"));
    }
    const double elapsed = std::chrono::duration<double>(now - first_start_).count();
    char rate[48] = " | -- MP/s";
    if (engine_files_ > 0 && elapsed > 0)
        std::snprintf(rate, sizeof(rate), " | %.2f MP/s", engine_megapixels_ / elapsed);
    line += rate;
    line += ", ETA " + eta_text();
    std::fputs(line.c_str(), stream_);
    std::fflush(stream_);
    drawn_ = true;
    last_draw_ = now;
}

void BatchProgress::clear_line() {
    if (interactive_ && drawn_) {
        std::fputs("\r\033[K", stream_);
        std::fflush(stream_);
    }
    drawn_ = false;
}

}  // namespace nalasr::cli
