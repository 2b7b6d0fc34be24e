// Progress of one image on stderr: a redrawn bar on a terminal (stage, %, elapsed, ETA), plain lines at each
// stage change and every 25 % otherwise (logs, pipes, CI).
#pragma once

#include <chrono>
#include <cstdio>
#include <string>

namespace nalasr::cli {

class ProgressDisplay {
public:
    // `label` names the image, e.g. "[2/5] photo.jpg".
    ProgressDisplay(std::FILE* stream, bool interactive, std::string label);
    // The engine's ProgressFn: fraction of the whole image in [0, 1], current stage name.
    void update(double fraction, const char* stage);
    // Clears the bar (terminal), so that the next line starts clean.
    void finish();

private:
    std::FILE* stream_;
    bool interactive_;
    std::string label_;
    std::string last_stage_;
    int last_quarter_ = -1;
    std::chrono::steady_clock::time_point start_, last_draw_;
    bool drawn_ = false;
};

// Whether stderr is a terminal (and TERM is not "dumb").
bool stderr_is_terminal();

}  // namespace nalasr::cli
