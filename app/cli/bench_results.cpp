#include "bench_results.h"

#include <cstdio>
#include <ctime>
#include <fstream>
#include <thread>

namespace nalasr::cli {
namespace {

const BenchPoint* find_point(const std::vector<BenchPoint>& points, const std::string& device, AttentionKind kind,
                             InputSize size) {
    for (const BenchPoint& p : points)
        if (p.device == device && p.attention == kind && p.size.width == size.width && p.size.height == size.height)
            return &p;
    return nullptr;
}

std::string csv_field(const std::string& text) {
    if (text.find_first_of(",\"\n") == std::string::npos) return text;
    std::string quoted = "\"";
    for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
    return quoted + "\"";
}

std::string number(double value) {
    char text[32];
    std::snprintf(text, sizeof text, "%.6g", value);
    return text;
}

// JSON null where a figure does not apply.
template <typename T>
nlohmann::ordered_json value_if(bool applies, T value) {
    return applies ? nlohmann::ordered_json(value) : nlohmann::ordered_json(nullptr);
}

nlohmann::ordered_json point_json(const BenchPoint& p) {
    const bool m = p.measured();
    return {
        {"device", p.device},
        {"backend", p.backend},
        {"attention", attention_kind_name(p.attention)},
        {"width", p.size.width},
        {"height", p.size.height},
        {"tokens", p.size.tokens()},
        {"status", point_status_name(p.status)},
        {"planned_peak_bytes", p.planned_peak_bytes},
        {"observed_peak_bytes", value_if(m, p.observed_peak_bytes)},
        {"host_rss_growth_bytes", value_if(m && p.host_rss_growth_bytes > 0, p.host_rss_growth_bytes)},
        {"available_bytes", p.available_bytes},
        {"run_seconds", p.run_seconds},
        {"median_seconds", value_if(m, p.median_seconds)},
        {"network_seconds", value_if(m, p.network_seconds)},
        {"input_megapixels_per_second", value_if(m, p.megapixels_per_second())},
        {"estimated_seconds", value_if(p.status == PointStatus::Skipped, p.estimated_seconds)},
        {"message", value_if(!p.message.empty(), p.message)},
    };
}

std::string utc_now() {
    const std::time_t now = std::time(nullptr);
    std::tm utc{};
    gmtime_r(&now, &utc);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
    return text;
}

}  // namespace

std::vector<MemoryReduction> memory_reductions(const std::vector<BenchPoint>& points) {
    std::vector<MemoryReduction> out;
    for (const BenchPoint& nala : points) {
        if (nala.attention != AttentionKind::Nala || nala.status == PointStatus::Failed) continue;
        const BenchPoint* softmax = find_point(points, nala.device, AttentionKind::Softmax, nala.size);
        if (!softmax || softmax->status == PointStatus::Failed || softmax->peak_bytes() == 0) continue;
        out.push_back({nala.device, nala.backend, nala.size, nala.peak_bytes(), softmax->peak_bytes(),
                       nala.measured(), softmax->measured()});
    }
    return out;
}

std::string bench_csv(const std::vector<BenchPoint>& points) {
    std::string csv =
        "device,backend,attention,width,height,tokens,status,planned_peak_bytes,observed_peak_bytes,"
        "host_rss_growth_bytes,available_bytes,runs,median_seconds,network_seconds,input_megapixels_per_second,"
        "estimated_seconds,message\n";
    for (const BenchPoint& p : points) {
        const bool m = p.measured();
        const std::string fields[] = {
            csv_field(p.device),
            csv_field(p.backend),
            attention_kind_name(p.attention),
            std::to_string(p.size.width),
            std::to_string(p.size.height),
            std::to_string(p.size.tokens()),
            point_status_name(p.status),
            std::to_string(p.planned_peak_bytes),
            m ? std::to_string(p.observed_peak_bytes) : "",
            m && p.host_rss_growth_bytes > 0 ? std::to_string(p.host_rss_growth_bytes) : "",
            std::to_string(p.available_bytes),
            std::to_string(p.run_seconds.size()),
            m ? number(p.median_seconds) : "",
            m ? number(p.network_seconds) : "",
            m ? number(p.megapixels_per_second()) : "",
            p.status == PointStatus::Skipped ? number(p.estimated_seconds) : "",
            csv_field(p.message),
        };
        for (std::size_t i = 0; i < std::size(fields); ++i) csv += (i ? "," : "") + fields[i];
        csv += '\n';
    }
    return csv;
}

nlohmann::ordered_json bench_json(const BenchContext& context, const std::vector<BenchPoint>& points) {
    nlohmann::ordered_json config = nlohmann::ordered_json::parse(context.config.to_json(), nullptr, false);
    config.erase("attention");  // each point names its own
    nlohmann::ordered_json point_list = nlohmann::ordered_json::array();
    for (const BenchPoint& p : points) point_list.push_back(point_json(p));
    nlohmann::ordered_json reductions = nlohmann::ordered_json::array();
    for (const MemoryReduction& r : memory_reductions(points))
        reductions.push_back({{"device", r.device},
                              {"backend", r.backend},
                              {"width", r.size.width},
                              {"height", r.size.height},
                              {"tokens", r.size.tokens()},
                              {"nala_peak_bytes", r.nala_bytes},
                              {"nala_peak", r.nala_measured ? "measured" : "predicted"},
                              {"softmax_peak_bytes", r.softmax_bytes},
                              {"softmax_peak", r.softmax_measured ? "measured" : "predicted"},
                              {"reduction", r.reduction()}});
    return {
        {"nalasr_version", version_string()},
        {"created", utc_now()},
        {"host_cpu_threads", std::thread::hardware_concurrency()},
        {"model", {{"source", context.model_source},
                   {"config", config},
                   {"parameters", context.parameters},
                   {"random_weights_for", context.random_weight_kinds}}},
        {"settings", {{"warmup", context.settings.warmup},
                      {"repeats", context.settings.repeats},
                      {"max_seconds", context.settings.max_seconds}}},
        {"points", point_list},
        {"memory_reduction", reductions},
        {"reference", {{"source", "NaLaFormer, SR at 70K+ tokens"},
                       {"reduction", kPaperReduction},
                       {"claim_width", kClaimSize.width},
                       {"claim_height", kClaimSize.height}}},
    };
}

Status write_text_file(const std::filesystem::path& path, const std::string& text) {
    std::ofstream file(path, std::ios::binary);
    if (!(file << text) || !file.flush()) return {StatusCode::IoError, path.string() + ": cannot write"};
    return Status::ok();
}

}  // namespace nalasr::cli
