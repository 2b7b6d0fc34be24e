#include "bench_plot.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <sys/wait.h>

#include "bench_results.h"
#include "text_format.h"

namespace nalasr::cli {
namespace {

// A series is one line of the plot: one attention kind on one device.
struct Series {
    std::string device;
    AttentionKind attention;
    std::vector<const BenchPoint*> points;
    bool any_measured = false;
    std::string block() const { return std::string("$") + attention_kind_name(attention) + "_" + device; }
    std::string title() const { return std::string(attention_kind_name(attention)) + " (" + device + ")"; }
};

const char* kind_colour(AttentionKind kind) {
    switch (kind) {
        case AttentionKind::Nala: return "#1f77b4";
        case AttentionKind::Pola: return "#2ca02c";
        case AttentionKind::Softmax: return "#d62728";
    }
    return "black";
}

// Point shape by kind (NaLa and Pola need the same memory: their lines overlap), filled on CUDA, open on the CPU.
int point_type(AttentionKind kind, const std::string& device) {
    const int open = kind == AttentionKind::Nala ? 6 : kind == AttentionKind::Pola ? 8 : 4;  // circle, triangle, square
    return device == "cuda" ? open + 1 : open;
}

std::vector<Series> group_series(const std::vector<BenchPoint>& points) {
    std::vector<Series> series;
    for (const BenchPoint& p : points) {
        auto it = std::find_if(series.begin(), series.end(),
                               [&](const Series& s) { return s.device == p.device && s.attention == p.attention; });
        if (it == series.end()) it = series.insert(series.end(), Series{p.device, p.attention, {}, false});
        if (p.status == PointStatus::Failed) continue;
        it->points.push_back(&p);
        it->any_measured = it->any_measured || p.measured();
    }
    return series;
}

std::string format(const char* pattern, double value) {
    char text[64];
    std::snprintf(text, sizeof text, pattern, value);
    return text;
}

// Gnuplot string literal in double quotes (a newline becomes gnuplot's \n escape).
std::string quoted(const std::string& text) {
    std::string out = "\"";
    for (char c : text) {
        if (c == '\n') out += "\\n";
        else if (c == '"' || c == '\\') out += std::string("\\") + c;
        else out += c;
    }
    return out + "\"";
}

std::string data_block(const Series& s) {
    std::string text = s.block() + " << EOD\n# tokens planned_bytes observed_bytes median_seconds network_seconds\n";
    for (const BenchPoint* p : s.points) {
        text += std::to_string(p->size.tokens()) + " " + std::to_string(p->planned_peak_bytes) + " " +
                (p->measured() ? std::to_string(p->observed_peak_bytes) : "?") + " " +
                (p->measured() ? format("%.6g", p->median_seconds) : "?") + " " +
                (p->measured() && p->network_seconds > 0 ? format("%.6g", p->network_seconds) : "?") + "\n";
    }
    return text + "EOD\n";
}

std::string plot_clauses(const std::vector<Series>& series, bool memory) {
    std::vector<std::string> clauses;
    for (const Series& s : series) {
        const std::string style = std::string(" lc rgb \"") + kind_colour(s.attention) + "\"";
        if (memory && !s.points.empty())
            clauses.push_back(s.block() + " using 1:2 with lines dt 2 lw 1.5" + style + " notitle");
        if (s.any_measured)
            clauses.push_back(s.block() + " using 1:" + (memory ? "3" : "5") + " with linespoints lw 2 pt " +
                              std::to_string(point_type(s.attention, s.device)) + " ps 1.5" + style + " title " +
                              quoted(s.title()));
    }
    if (clauses.empty()) return "";  // a blank panel: gnuplot refuses a plot with no data
    std::string text = "  plot ";
    for (std::size_t i = 0; i < clauses.size(); ++i) text += (i ? ", \\\n       " : "") + clauses[i];
    return text + "\n";
}

// The vertical line at 265×265 = 70,225 tokens (both panels), when the sweep spans it.
std::string claim_mark(const std::vector<BenchPoint>& points) {
    const std::size_t claim = kClaimSize.tokens();
    const bool below = std::any_of(points.begin(), points.end(), [&](const BenchPoint& p) { return p.size.tokens() <= claim; });
    const bool above = std::any_of(points.begin(), points.end(), [&](const BenchPoint& p) { return p.size.tokens() >= claim; });
    if (!below || !above) return "";
    const std::string x = std::to_string(kClaimSize.tokens());
    return "  set arrow from " + x + ", graph 0 to " + x + ", graph 1 nohead dt 4 lw 1.5 lc rgb \"black\"\n"
           "  set label \"265×265 = 70,225 tokens\" at " + x + ", graph 0.03 rotate by 90 offset character -1.5,0 left\n";
}

// The memory panel's marks: each device's available memory.
std::string memory_marks(const std::vector<BenchPoint>& points) {
    std::string text;
    std::map<std::string, std::size_t> available;
    for (const BenchPoint& p : points) available[p.device] = std::max(available[p.device], p.available_bytes);
    for (const auto& [device, bytes] : available) {
        if (bytes == 0) continue;
        const std::string y = std::to_string(bytes);
        text += "  set arrow from graph 0, first " + y + " to graph 1, first " + y +
                " nohead dt 3 lw 1.5 lc rgb \"gray40\"\n";
        text += "  set label " + quoted(device + ": " + format_bytes(bytes) + " available") + " at graph 0.99, first " +
                y + " right offset 0,0.6 textcolor rgb \"gray30\"\n";
    }
    return text;
}

// The figure's title, then one line per device with the NaLa-vs-softmax reduction at 70K tokens.
std::string figure_title(const std::vector<BenchPoint>& points, const std::string& title) {
    std::string text = title;
    for (const MemoryReduction& r : memory_reductions(points)) {
        if (r.size.width != kClaimSize.width || r.size.height != kClaimSize.height) continue;
        text += "\nat 70,225 tokens on " + r.device + ": NaLa needs " + format("%.1f", 100 * r.reduction()) +
                " % less peak memory than softmax (softmax " + (r.softmax_measured ? "measured" : "predicted") +
                "); NaLaFormer reports 92.3 %";
    }
    return text;
}

std::string shell_quote(const std::string& s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

}  // namespace

std::string bench_gnuplot_script(const std::vector<BenchPoint>& points, const std::string& title,
                                 const std::string& stem) {
    const std::vector<Series> series = group_series(points);
    std::string script = "# Written by `nalasr bench`. Re-plot: gnuplot " + stem +
                         ".gnuplot (writes " + stem + ".png and " + stem + ".svg here).\n\n";
    for (const Series& s : series) script += data_block(s);
    if (!points.empty()) {  // both panels share the x range of every point, run or not
        const auto [low, high] = std::minmax_element(points.begin(), points.end(), [](const BenchPoint& a, const BenchPoint& b) {
            return a.size.tokens() < b.size.tokens();
        });
        script += "\nset xrange [" + format("%g", low->size.tokens() / 1.5) + ":" + format("%g", high->size.tokens() * 1.5) + "]\n";
    }
    script += R"gp(
set datafile missing "?"
set logscale xy
set grid xtics ytics mxtics mytics lc rgb "gray85"
set key box opaque
set xlabel "tokens (input pixels; the whole image is one attention sequence)"
set format x "%.0s%c"
do for [fmt in "png svg"] {
  if (fmt eq "png") { set terminal pngcairo size 1600,700 font "sans,11" } else { set terminal svg size 1600,700 dynamic font "sans,11" background rgb "white" }
  set output ")gp" + stem + R"gp(.".fmt
  set multiplot layout 1,2 title )gp" + quoted(figure_title(points, title)) + R"gp(
  set title "Peak working memory (dashed: the planner's prediction; points: measured)"
  set ylabel "bytes (SI: 1 GB = 10^9 B)"
  set format y "%.0s %cB"
  set key bottom right
)gp" + claim_mark(points) + memory_marks(points) + plot_clauses(series, true) + R"gp(  unset arrow
  unset label
  set title "Time of the network stage (backend's timer; median of the timed runs)"
  set ylabel "seconds"
  set format y "%g"
  set key top left
)gp" + claim_mark(points) + plot_clauses(series, false) + R"gp(  unset multiplot
  unset output
}
)gp";
    return script;
}

bool gnuplot_available() { return std::system("command -v gnuplot >/dev/null 2>&1") == 0; }

Status plot_bench(const std::filesystem::path& folder, const std::string& stem, const std::vector<BenchPoint>& points,
                  const std::string& title) {
    if (Status st = write_text_file(folder / (stem + ".gnuplot"), bench_gnuplot_script(points, title, stem)); !st)
        return st;
    if (!gnuplot_available())
        return {StatusCode::BackendUnavailable, "gnuplot is not installed (Debian: apt-get install gnuplot-nox); " +
                                                    (folder / (stem + ".gnuplot")).string() +
                                                    " draws the plot once it is"};
    const std::string command = "cd " + shell_quote(folder.string()) + " && gnuplot " + shell_quote(stem + ".gnuplot") + " 2>&1";
    FILE* pipe = popen(command.c_str(), "r");
    if (!pipe) return {StatusCode::Internal, "cannot run gnuplot"};
    std::string output;
    char buffer[1024];
    while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
    const int status = pclose(pipe);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return {StatusCode::Internal, "gnuplot failed on " + (folder / (stem + ".gnuplot")).string() + ": " + output};
    return Status::ok();
}

}  // namespace nalasr::cli
