// The plot of `nalasr bench`: peak memory and time per run against tokens, log-log, one line per attention kind
// and device, the 70K-token point marked. Written as a self-contained gnuplot script (the data inline), then
// drawn by gnuplot into PNG and SVG.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "bench_measure.h"
#include "nalasr/status.h"

namespace nalasr::cli {

// The script; it writes `<stem>.png` and `<stem>.svg` in the folder gnuplot runs in.
std::string bench_gnuplot_script(const std::vector<BenchPoint>& points, const std::string& title,
                                 const std::string& stem);

bool gnuplot_available();

// Writes `<stem>.gnuplot` into `folder` and runs gnuplot there. BackendUnavailable when gnuplot is not
// installed (the script is still written), Internal with gnuplot's output when it fails.
Status plot_bench(const std::filesystem::path& folder, const std::string& stem, const std::vector<BenchPoint>& points,
                  const std::string& title);

}  // namespace nalasr::cli
