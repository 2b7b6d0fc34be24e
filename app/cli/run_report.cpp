#include "run_report.h"

#include <algorithm>
#include <cstdio>
#include <fstream>

namespace nalasr::cli {
namespace {

nlohmann::ordered_json file_json(const FileResult& f) {
    nlohmann::ordered_json stages = nlohmann::ordered_json::object();
    for (const StageTime& stage : f.stats.stages) stages[stage.stage] = stage.ms;
    return {
        {"input", f.input},
        {"output", f.status ? nlohmann::ordered_json(f.output) : nlohmann::ordered_json(nullptr)},
        {"status", !f.status ? status_code_name(f.status.code()) : f.skipped ? "skipped" : "ok"},
        {"error", f.status ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(f.status.message())},
        {"warnings", f.warnings},
        {"width_in", f.width_in},
        {"height_in", f.height_in},
        {"width_out", f.width_out},
        {"height_out", f.height_out},
        {"bytes_in", f.bytes_in},
        {"bytes_out", f.bytes_out},
        {"seconds", f.seconds},
        {"tokens", f.stats.tokens},
        {"stage_ms", stages},
        {"total_ms", f.stats.total_ms},
        {"planned_peak_bytes", f.stats.planned_peak_bytes},
        {"observed_peak_bytes", f.stats.observed_peak_bytes},
        {"peak_rss_bytes", f.stats.peak_host_rss_bytes},
    };
}

nlohmann::ordered_json device_json(const DeviceSummary& d) {
    return {
        {"device", d.name},
        {"files", d.share.processed},
        {"megapixels", d.share.megapixels},
        {"failed", d.share.failed},
        {"handed_on", d.share.handed_on},
        {"busy_seconds", d.share.busy_seconds},
    };
}

double per_second(double amount, double seconds) { return seconds > 0 ? amount / seconds : 0; }

// Three significant digits without an exponent: "0.0123", "4.56", "78.9", "1234".
std::string three_digits(double value) {
    char text[32];
    const int decimals = value >= 100 ? 0 : value >= 10 ? 1 : value >= 1 ? 2 : value >= 0.1 ? 3 : 4;
    std::snprintf(text, sizeof(text), "%.*f", decimals, value);
    return text;
}

}  // namespace

nlohmann::ordered_json parse_or_text(const std::string& text) {
    nlohmann::ordered_json parsed = nlohmann::ordered_json::parse(text, nullptr, false);
    return parsed.is_discarded() ? nlohmann::ordered_json(text) : parsed;
}

int RunSummary::succeeded() const {
    return int(std::count_if(files.begin(), files.end(), [](const FileResult& f) { return f.status.is_ok(); }));
}
int RunSummary::skipped() const {
    return int(std::count_if(files.begin(), files.end(), [](const FileResult& f) { return f.skipped; }));
}
int RunSummary::cancelled() const {
    return int(std::count_if(files.begin(), files.end(),
                             [](const FileResult& f) { return f.status.code() == StatusCode::Cancelled; }));
}
int RunSummary::failed() const { return int(files.size()) - succeeded() - cancelled(); }
int RunSummary::upscaled() const {
    int count = 0;
    for (const DeviceSummary& d : devices) count += d.share.processed;
    return count;
}
double RunSummary::megapixels() const {
    double sum = 0;
    for (const DeviceSummary& d : devices) sum += d.share.megapixels;
    return sum;
}

std::string throughput_text(const RunSummary& summary) {
    if (summary.upscaled() == 0) return "";
    std::string line = three_digits(per_second(summary.upscaled(), summary.batch_seconds)) + " images/s, " +
                       three_digits(per_second(summary.megapixels(), summary.batch_seconds)) + " MP/s";
    if (summary.devices.size() < 2) return line;
    for (std::size_t i = 0; i < summary.devices.size(); ++i) {
        const DeviceSummary& d = summary.devices[i];
        line += (i == 0 ? " (" : ", ") + d.name.substr(0, d.name.find(" (")) + " " + std::to_string(d.share.processed) +
                " file(s) " + three_digits(d.share.megapixels) + " MP";
    }
    return line + ")";
}

nlohmann::ordered_json report_json(const RunSummary& summary) {
    nlohmann::ordered_json files = nlohmann::ordered_json::array();
    std::size_t max_planned = 0, max_observed = 0, max_rss = 0;
    double engine_ms = 0;
    for (const FileResult& f : summary.files) {
        files.push_back(file_json(f));
        max_planned = std::max(max_planned, f.stats.planned_peak_bytes);
        max_observed = std::max(max_observed, f.stats.observed_peak_bytes);
        max_rss = std::max(max_rss, f.stats.peak_host_rss_bytes);
        engine_ms += f.stats.total_ms;
    }
    nlohmann::ordered_json devices = nlohmann::ordered_json::array();
    for (const DeviceSummary& d : summary.devices) devices.push_back(device_json(d));
    nlohmann::ordered_json model = {{"source", summary.model_source}};
    if (summary.model) {
        model["name"] = summary.model->name();
        model["config"] = parse_or_text(summary.model->config().to_json());
        model["provenance"] = parse_or_text(summary.model->provenance());
        model["parameters"] = summary.model->parameter_count();
    }
    return {
        {"nalasr_version", version_string()},
        {"backend", summary.backend},
        {"devices", devices},
        {"shard", summary.shard.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(summary.shard)},
        {"options", {{"keep_colours", summary.keep_colours}, {"tta", summary.tta}}},
        {"model", model},
        {"files", files},
        {"totals",
         {{"files", summary.files.size()},
          {"succeeded", summary.succeeded()},
          {"skipped", summary.skipped()},
          {"cancelled", summary.cancelled()},
          {"failed", summary.failed()},
          {"interrupted", summary.interrupted},
          {"not_started", summary.not_started},
          {"wall_seconds", summary.wall_seconds},
          {"batch_seconds", summary.batch_seconds},
          {"engine_ms", engine_ms},
          {"upscaled", summary.upscaled()},
          {"megapixels", summary.megapixels()},
          {"images_per_second", per_second(summary.upscaled(), summary.batch_seconds)},
          {"megapixels_per_second", per_second(summary.megapixels(), summary.batch_seconds)},
          {"max_planned_peak_bytes", max_planned},
          {"max_observed_peak_bytes", max_observed},
          {"peak_rss_bytes", max_rss}}},
    };
}

Status write_report(const std::filesystem::path& path, const RunSummary& summary) {
    // File names need not be valid UTF-8 on Linux: replace bad bytes rather than throw.
    const std::string text = report_json(summary).dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
    // Through a temporary file, so that a report that exists is complete.
    std::filesystem::path temp = path;
    temp += ".tmp";
    std::ofstream file(temp, std::ios::binary);
    file << text << '\n';
    file.close();
    std::error_code ec;
    if (file.fail()) {
        std::filesystem::remove(temp, ec);
        return {StatusCode::IoError, path.string() + ": cannot write the report"};
    }
    std::filesystem::rename(temp, path, ec);
    if (ec) {
        std::filesystem::remove(temp, ec);
        return {StatusCode::IoError, path.string() + ": cannot write the report (" + ec.message() + ")"};
    }
    return Status::ok();
}

}  // namespace nalasr::cli
