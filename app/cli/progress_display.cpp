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

ProgressDisplay::ProgressDisplay(std::FILE* stream, bool interactive, std::string label)
    : stream_(stream), interactive_(interactive), label_(std::move(label)), start_(std::chrono::steady_clock::now()) {}

void ProgressDisplay::update(double fraction, const char* stage) {
    fraction = std::clamp(fraction, 0.0, 1.0);
    const auto now = std::chrono::steady_clock::now();
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    const std::string stage_name = stage ? stage : "";
    if (!interactive_) {
        const int quarter = int(fraction * 4);
        if (stage_name == last_stage_ && quarter == last_quarter_) return;
        std::fprintf(stream_, "%s: %s %3.0f%% (%s)\n", label_.c_str(), stage_name.c_str(), fraction * 100,
                     format_duration(elapsed).c_str());
        std::fflush(stream_);
        last_stage_ = stage_name;
        last_quarter_ = quarter;
        return;
    }
    // Redraw at most ~10 times a second.
    if (drawn_ && now - last_draw_ < std::chrono::milliseconds(100) && fraction < 1.0) return;
    constexpr int kWidth = 24;
    const int filled = int(fraction * kWidth);
    std::string bar(std::size_t(filled), '#');
    bar.resize(kWidth, '.');
    std::string eta = "--";
    if (fraction > 0.02) eta = format_duration(elapsed * (1 - fraction) / fraction);
    std::fprintf(stream_, "\r\033[K%s  %-8s [%s] %3.0f%%  %s elapsed, ETA %s", label_.c_str(), stage_name.c_str(),
                 bar.c_str(), fraction * 100, format_duration(elapsed).c_str(), eta.c_str());
    std::fflush(stream_);
    drawn_ = true;
    last_draw_ = now;
}

void ProgressDisplay::finish() {
    if (interactive_ && drawn_) {
        std::fprintf(stream_, "\r\033[K");
        std::fflush(stream_);
    }
    drawn_ = false;
}

}  // namespace nalasr::cli
