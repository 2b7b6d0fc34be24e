// Progress of a batch on stderr. On a terminal: one redrawn line with the file counter, the current file, its
// stage and %, the files done, the throughput and the batch's ETA. Otherwise (logs, pipes, CI): plain lines at
// each stage change and every 25 % of an image.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <string>

namespace nalasr::cli {

class ProgressDisplay {
public:
    ProgressDisplay(std::FILE* stream, bool interactive, std::size_t total_files);
    // The engine starts on file `index` (0-based) of `megapixels` input pixels.
    void start_file(std::size_t index, const std::string& name, double megapixels);
    // The engine's ProgressFn for the current file: fraction in [0, 1], stage name.
    void update(double fraction, const char* stage);
    // The engine is done with the current file; clears the bar so that the next line starts clean.
    void finish_file();
    // Clears the bar (terminal) so that a line can be printed; the next update draws it again.
    void clear();
    // A result (any status) was reported.
    void file_reported() { ++reported_; }

private:
    using Clock = std::chrono::steady_clock;
    std::string eta_text(double fraction) const;

    std::FILE* stream_;
    bool interactive_;
    std::size_t total_, index_ = 0, reported_ = 0;
    std::string label_, last_stage_;
    int last_quarter_ = -1;
    double megapixels_ = 0;
    // Files that went through the engine so far: how many, their pixels and time (for throughput and ETA).
    std::size_t engine_files_ = 0;
    double engine_megapixels_ = 0, engine_seconds_ = 0;
    Clock::time_point file_start_, last_draw_;
    bool drawn_ = false;
};

// Whether stderr is a terminal (and TERM is not "dumb").
bool stderr_is_terminal();

}  // namespace nalasr::cli
