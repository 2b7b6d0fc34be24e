#include "bench_table.h"

#include <cstdio>

#include "text_format.h"

namespace nalasr::cli {
namespace {

std::string seconds_text(double seconds) {
    char text[32];
    std::snprintf(text, sizeof text, seconds < 1 ? "%.3f s" : seconds < 100 ? "%.2f s" : "%.0f s", seconds);
    return text;
}

std::string point_note(const BenchPoint& p) {
    switch (p.status) {
        case PointStatus::Measured:
            return std::to_string(p.run_seconds.size()) + (p.run_seconds.size() == 1 ? " run" : " runs");
        case PointStatus::TooLarge:
            return p.message.empty() ? "not run: would need " + format_bytes(p.planned_peak_bytes) + ", " +
                                           format_bytes(p.available_bytes) + " available"
                                     : "not run: " + p.message;
        case PointStatus::Skipped:
            return "skipped (est. " + seconds_text(p.estimated_seconds) + " per run, over the --max-seconds budget)";
        case PointStatus::Failed: return "failed: " + p.message;
    }
    return "";
}

}  // namespace

std::string thousands(std::size_t value) {
    std::string digits = std::to_string(value), out;
    for (std::size_t i = 0; i < digits.size(); ++i) {
        if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
        out += digits[i];
    }
    return out;
}

void print_point_header() {
    std::printf("%-5s %-8s %11s %11s %11s %11s %11s %9s %9s %8s  %s\n", "dev", "attn", "input", "tokens", "planned",
                "observed", "RSS growth", "median", "network", "MP/s", "note");
}

void print_point(const BenchPoint& p) {
    const bool m = p.measured();
    char mps[32] = "-";
    if (m) std::snprintf(mps, sizeof mps, "%.3f", p.megapixels_per_second());
    std::printf("%-5s %-8s %11s %11s %11s %11s %11s %9s %9s %8s  %s\n", p.device.c_str(), attention_kind_name(p.attention),
                p.size.text().c_str(), thousands(p.size.tokens()).c_str(), format_bytes(p.planned_peak_bytes).c_str(),
                m ? format_bytes(p.observed_peak_bytes).c_str() : "-",
                m && p.host_rss_growth_bytes ? format_bytes(p.host_rss_growth_bytes).c_str() : "-",
                m ? seconds_text(p.median_seconds).c_str() : "-", m ? seconds_text(p.network_seconds).c_str() : "-", mps,
                point_note(p).c_str());
    std::fflush(stdout);
}

void print_reductions(const std::vector<MemoryReduction>& reductions) {
    if (reductions.empty()) return;
    std::printf("\nPeak memory, NaLa against softmax attention (reduction = 1 - nala/softmax):\n");
    std::printf("%-5s %11s %11s %22s %22s %10s\n", "dev", "input", "tokens", "nala", "softmax", "nala saves");
    auto peak = [](std::size_t bytes, bool measured) {
        return format_bytes(bytes) + (measured ? " measured" : " predicted");
    };
    for (const MemoryReduction& r : reductions)
        std::printf("%-5s %11s %11s %22s %22s %9.1f%%\n", r.device.c_str(), r.size.text().c_str(),
                    thousands(r.size.tokens()).c_str(), peak(r.nala_bytes, r.nala_measured).c_str(),
                    peak(r.softmax_bytes, r.softmax_measured).c_str(), 100 * r.reduction());
    for (const MemoryReduction& r : reductions) {
        if (r.size.width != kClaimSize.width || r.size.height != kClaimSize.height) continue;
        std::printf("\nClaim at %s = %s tokens on %s: NaLa %s (%s) vs softmax %s (%s): %.1f %% less peak memory "
                    "(NaLaFormer reports %.1f %% at 70K+ tokens)\n",
                    r.size.text().c_str(), thousands(r.size.tokens()).c_str(), r.backend.c_str(),
                    format_bytes(r.nala_bytes).c_str(), r.nala_measured ? "measured" : "predicted, not run",
                    format_bytes(r.softmax_bytes).c_str(), r.softmax_measured ? "measured" : "predicted, not run",
                    100 * r.reduction(), 100 * kPaperReduction);
    }
    std::fflush(stdout);
}

void print_largest_square(const LargestSquare& r) {
    std::printf("%-5s %-8s ", r.device.c_str(), attention_kind_name(r.attention));
    if (r.side == 0) {
        std::printf("nothing fits: %s available\n", format_bytes(r.available_bytes).c_str());
        return;
    }
    std::printf("largest square input in one pass: %dx%d (%s tokens, %.2f MP), needs %s of %s available", r.side, r.side,
                thousands(std::size_t(r.side) * r.side).c_str(), double(r.side) * r.side / 1e6,
                format_bytes(r.planned_bytes).c_str(), format_bytes(r.available_bytes).c_str());
    if (r.verified && r.verify_status)
        std::printf("; verified: ran in %s, observed %s", seconds_text(r.verify_seconds).c_str(),
                    format_bytes(r.observed_bytes).c_str());
    else if (r.verified)
        std::printf("; verification FAILED: %s", r.verify_status.message().c_str());
    std::printf("\n");
    std::fflush(stdout);
}

}  // namespace nalasr::cli
