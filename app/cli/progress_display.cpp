#include "progress_display.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "text_format.h"

namespace nalasr::cli {

bool stderr_is_terminal() {
    const char* term = std::getenv("TERM");
    return ::isatty(STDERR_FILENO) && !(term && std::strcmp(term, "dumb") == 0);
}

ProgressDisplay::ProgressDisplay(std::FILE* stream, bool interactive, std::size_t total_files)
    : stream_(stream), interactive_(interactive), total_(total_files) {}

void ProgressDisplay::start_file(std::size_t index, const std::string& name, double megapixels) {
    index_ = index;
    char counter[48];
    std::snprintf(counter, sizeof(counter), "[%zu/%zu] ", index + 1, total_);
    label_ = counter;
    label_ += name;
    megapixels_ = megapixels;
    last_stage_.clear();
    last_quarter_ = -1;
    file_start_ = Clock::now();
}

// The batch's remaining time: the files not yet through the engine, at the mean time per engine file so far
// (the current file's own rate before the first one is done). Files that fail or are skipped take no time, so
// this errs long.
std::string ProgressDisplay::eta_text(double fraction) const {
    const double elapsed = std::chrono::duration<double>(Clock::now() - file_start_).count();
    double per_file = 0;
    if (engine_files_ > 0) per_file = engine_seconds_ / double(engine_files_);
    else if (fraction > 0.02) per_file = elapsed / fraction;
    else return "--";
    const double remaining = double(total_ - index_) - fraction;
    return format_duration(std::max(0.0, remaining * per_file));
}

void ProgressDisplay::update(double fraction, const char* stage) {
    fraction = std::clamp(fraction, 0.0, 1.0);
    const auto now = Clock::now();
    const double elapsed = std::chrono::duration<double>(now - file_start_).count();
    const std::string stage_name = stage ? stage : "";
    if (!interactive_) {
        const int quarter = int(fraction * 4);
        if (stage_name == last_stage_ && quarter == last_quarter_) return;
        std::fprintf(stream_, "%s: %s %3.0f%% (%s; batch ETA %s)\n", label_.c_str(), stage_name.c_str(), fraction * 100,
                     format_duration(elapsed).c_str(), eta_text(fraction).c_str());
        std::fflush(stream_);
        last_stage_ = stage_name;
        last_quarter_ = quarter;
        return;
    }
    // Redraw at most ~10 times a second.
    if (drawn_ && now - last_draw_ < std::chrono::milliseconds(100) && fraction < 1.0) return;
    constexpr int kWidth = 20;
    std::string bar(std::size_t(fraction * kWidth), '#');
    bar.resize(kWidth, '.');
    std::string throughput = "-- MP/s";
    if (engine_seconds_ > 0) {
        const double rate = engine_megapixels_ / engine_seconds_;  // input pixels per second
        char text[32];
        if (rate >= 1) std::snprintf(text, sizeof(text), "%.2f MP/s", rate);
        else std::snprintf(text, sizeof(text), "%.3g kpx/s", rate * 1000);
        throughput = text;
    }
    std::fprintf(stream_, "\r\033[K%s  %-8s [%s] %3.0f%%  | %zu done, %s, ETA %s", label_.c_str(), stage_name.c_str(),
                 bar.c_str(), fraction * 100, reported_, throughput.c_str(), eta_text(fraction).c_str());
    std::fflush(stream_);
    drawn_ = true;
    last_draw_ = now;
}

void ProgressDisplay::finish_file() {
    ++engine_files_;
    engine_megapixels_ += megapixels_;
    engine_seconds_ += std::chrono::duration<double>(Clock::now() - file_start_).count();
    clear();
}

void ProgressDisplay::clear() {
    if (interactive_ && drawn_) {
        std::fprintf(stream_, "\r\033[K");
        std::fflush(stream_);
    }
    drawn_ = false;
}

}  // namespace nalasr::cli
