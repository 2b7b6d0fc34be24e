#include "bench_command.h"

#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>
#include <set>

#include "bench_max.h"
#include "bench_measure.h"
#include "bench_models.h"
#include "bench_plot.h"
#include "bench_results.h"
#include "bench_sizes.h"
#include "bench_table.h"
#include "exit_codes.h"
#include "interrupt.h"
#include "model_select.h"
#include "nalasr/engine.h"
#include "text_format.h"

namespace nalasr::cli {
namespace fs = std::filesystem;
namespace {

constexpr char kStem[] = "bench";  // bench.csv, bench.json, bench.gnuplot, bench.png, bench.svg
constexpr double kDefaultMaxSeconds = 60, kQuickMaxSeconds = 20;  // per point, when --max-seconds is not given

int setup_error(const std::string& message) {
    std::fprintf(stderr, "nalasr: error: %s\n", message.c_str());
    return kExitSetup;
}

std::vector<std::string> split_list(const std::string& text) {
    std::vector<std::string> items;
    std::size_t begin = 0;
    while (begin <= text.size()) {
        const std::size_t comma = std::min(text.find(',', begin), text.size());
        if (comma > begin) items.push_back(text.substr(begin, comma - begin));
        begin = comma + 1;
    }
    return items;
}

// A comma-separated list of names for `option`, each parsed by `parse` (what: "device"; choices: "auto, cpu, cuda").
template <typename T>
Status parse_name_list(const std::string& text, bool (*parse)(const std::string&, T*), const std::string& option,
                       const std::string& what, const std::string& choices, std::vector<T>* out) {
    for (const std::string& name : split_list(text)) {
        T value;
        if (!parse(name, &value))
            return {StatusCode::InvalidArgument, option + ": unknown " + what + " '" + name + "' (use " + choices + ")"};
        out->push_back(value);
    }
    if (out->empty()) return {StatusCode::InvalidArgument, option + ": no " + what + " given"};
    return Status::ok();
}

Status parse_devices(const std::string& text, std::vector<BackendKind>* out) {
    return parse_name_list(text, parse_backend_kind, "--device", "device", "auto, cpu, cuda", out);
}

Status parse_kinds(const std::string& text, std::vector<AttentionKind>* out) {
    return parse_name_list(text, parse_attention_kind, "--attention", "kind", "nala, pola, softmax", out);
}

// "cuda" for a CUDA engine ("cuda:0 (NVIDIA ...)"), else "cpu": the device column of every output.
std::string device_of(const Engine& engine) {
    return engine.backend_name().rfind("cuda", 0) == 0 ? "cuda" : "cpu";
}

std::string config_text(const ModelConfig& c) {
    return "x" + std::to_string(c.scale) + ", C=" + std::to_string(c.channels) + " h=" + std::to_string(c.heads) +
           " G=" + std::to_string(c.groups) + " B=" + std::to_string(c.blocks);
}

// What every mode needs: the model, and an engine per (device, kind) made on demand.
class BenchSetup {
public:
    Status init(const BenchOptions& o) {
        options_ = o;
        if (Status st = parse_devices(o.devices, &devices_); !st) return st;
        if (Status st = parse_kinds(o.attention, &kinds_); !st) return st;
        if (o.model.empty() && o.model_name.empty()) {
            base_ = Model::random(ModelConfig{}, 1);
            source_ = "random weights";
        } else {
            ModelRequest request;
            request.file = o.model;
            request.name = o.model_name;
            if (Status st = select_model(request, &base_, &source_); !st) return st;
        }
        for (AttentionKind kind : kinds_) {
            bool random_weights = false;
            model_for_kind(base_, kind, &random_weights);
            if (random_weights) random_kinds_.push_back(attention_kind_name(kind));
        }
        // Fail before any output when a device is not usable (e.g. --device cuda without a GPU).
        for (BackendKind device : devices_) {
            std::unique_ptr<Engine> engine;
            if (Status st = create_engine(device, kinds_.front(), &engine); !st) return st;
        }
        return Status::ok();
    }

    Status create_engine(BackendKind device, AttentionKind kind, std::unique_ptr<Engine>* out) {
        bool random_weights = false;
        const Model model = model_for_kind(base_, kind, &random_weights);
        EngineParams params;
        params.backend = device;
        params.gpu_index = options_.gpu;
        params.cpu_threads = options_.threads;
        return Engine::create(model, params, out);
    }

    const std::vector<BackendKind>& devices() const { return devices_; }
    const std::vector<AttentionKind>& kinds() const { return kinds_; }
    const Model& base() const { return base_; }
    const std::string& source() const { return source_; }
    // The kinds that run on random weights: all without -m; with -m, those its tensors do not fit.
    const std::vector<std::string>& random_kinds() const { return random_kinds_; }

private:
    BenchOptions options_;
    std::vector<BackendKind> devices_;
    std::vector<AttentionKind> kinds_;
    Model base_;
    std::string source_;
    std::vector<std::string> random_kinds_;
};

Status make_out_folder(const fs::path& folder) {
    if (folder.empty()) return Status::ok();
    std::error_code ec;
    fs::create_directories(folder, ec);
    if (ec) return {StatusCode::IoError, "cannot create " + folder.string() + " (" + ec.message() + ")"};
    return Status::ok();
}

int run_max(const BenchOptions& options, BenchSetup& setup) {
    std::printf("Largest square input per attention kind, one tile-free pass (%s; planner against the memory "
                "available now)%s\n",
                config_text(setup.base().config()).c_str(),
                options.verify ? "; --verify runs it on CUDA devices" : "");
    nlohmann::ordered_json results = nlohmann::ordered_json::array();
    bool failed = false;
    std::set<std::string> done;
    for (BackendKind device : setup.devices()) {
        for (AttentionKind kind : setup.kinds()) {
            if (interrupt_requested()) return kExitSignalBase + interrupt_signal();
            std::unique_ptr<Engine> engine;
            if (Status st = setup.create_engine(device, kind, &engine); !st) return setup_error(st.message());
            const std::string label = device_of(*engine);
            if (!done.insert(label + attention_kind_name(kind)).second) continue;  // e.g. auto and cpu
            const bool verify = options.verify && label == "cuda";
            const LargestSquare result = find_largest_square(*engine, label, verify, interrupt_requested);
            print_largest_square(result);
            failed = failed || (result.verified && !result.verify_status);
            results.push_back(largest_square_json(result));
        }
    }
    if (options.verify && std::none_of(results.begin(), results.end(), [](const auto& r) { return r["verified"]; }))
        std::printf("(--verify runs only on CUDA: on the CPU the largest input would take hours)\n");
    if (!options.out.empty()) {
        const nlohmann::ordered_json report = {{"nalasr_version", version_string()},
                                               {"model", setup.source()},
                                               {"config", nlohmann::ordered_json::parse(setup.base().config().to_json())},
                                               {"largest_square", results}};
        if (Status st = write_text_file(options.out / "bench_max.json", report.dump(2) + "\n"); !st)
            return setup_error(st.message());
        std::printf("Wrote %s\n", (options.out / "bench_max.json").c_str());
    }
    if (interrupt_requested()) return kExitSignalBase + interrupt_signal();
    return failed ? kExitSomeFailed : kExitOk;
}

// Writes CSV, JSON and the plot; reports what it wrote. False when a file could not be written.
bool write_outputs(const BenchOptions& options, const BenchContext& context, const std::vector<BenchPoint>& points,
                   const std::string& title) {
    const fs::path csv = options.out / (std::string(kStem) + ".csv"), json = options.out / (std::string(kStem) + ".json");
    Status st = write_text_file(csv, bench_csv(points));
    if (st) st = write_text_file(json, bench_json(context, points).dump(2) + "\n");
    if (!st) {
        std::fprintf(stderr, "nalasr: error: %s\n", st.message().c_str());
        return false;
    }
    std::printf("\nWrote %s, %s", csv.c_str(), json.c_str());
    if (options.no_plot) {
        std::printf("\n");
        return true;
    }
    st = plot_bench(options.out, kStem, points, title);
    if (st) std::printf(", %s.{png,svg} (script: %s.gnuplot)\n", (options.out / kStem).c_str(), (options.out / kStem).c_str());
    else std::printf("\nno plot: %s\n", st.message().c_str());
    return st.code() != StatusCode::IoError;
}

int run_sweep(const BenchOptions& options, BenchSetup& setup) {
    std::vector<InputSize> sizes = options.quick ? quick_bench_sizes() : default_bench_sizes();
    if (!options.sizes.empty())
        if (Status st = parse_bench_sizes(options.sizes, &sizes); !st) return setup_error(st.message());
    MeasureSettings settings;
    settings.warmup = options.warmup;
    settings.repeats = options.repeats;
    settings.max_seconds = options.max_seconds >= 0 ? options.max_seconds
                           : options.quick          ? kQuickMaxSeconds
                                                    : kDefaultMaxSeconds;
    settings.should_abort = interrupt_requested;

    const ModelConfig& config = setup.base().config();
    std::printf("nalasr bench: %s (%s, %zu parameters); per point %d warm-up run(s), then up to %d timed; "
                "budget %s per run\n",
                setup.source().c_str(), config_text(config).c_str(), setup.base().parameter_count(), settings.warmup,
                settings.repeats, settings.max_seconds > 0 ? format_duration(settings.max_seconds).c_str() : "none");
    if (!options.model.empty() || !options.model_name.empty())
        for (const std::string& kind : setup.random_kinds())
            std::printf("%s runs on random weights of the same config (the model's tensors do not fit it)\n", kind.c_str());
    std::printf("planned: the memory planner's peak; observed: measured (CPU: arena high-water mark; CUDA: device "
                "memory taken); RSS growth: the process's resident memory, as the kernel counts it\n\n");
    print_point_header();

    std::vector<BenchPoint> points;
    std::vector<std::string> backends;
    std::set<std::string> done;
    bool failed = false;
    for (BackendKind device : setup.devices()) {
        for (AttentionKind kind : setup.kinds()) {
            if (interrupt_requested()) break;
            std::unique_ptr<Engine> engine;  // one at a time: a CUDA engine keeps its arena until destroyed
            if (Status st = setup.create_engine(device, kind, &engine); !st) return setup_error(st.message());
            const std::string label = device_of(*engine);
            if (!done.insert(label + attention_kind_name(kind)).second) continue;
            if (std::find(backends.begin(), backends.end(), engine->backend_name()) == backends.end())
                backends.push_back(engine->backend_name());
            std::optional<BenchPoint> previous;  // the last measured point of this engine (time estimates)
            for (const InputSize& size : sizes) {
                if (interrupt_requested()) break;
                points.push_back(measure_point(*engine, label, size, settings, previous ? &*previous : nullptr));
                print_point(points.back());
                failed = failed || points.back().status == PointStatus::Failed;
                if (points.back().measured()) previous = points.back();
            }
        }
    }
    const std::vector<MemoryReduction> reductions = memory_reductions(points);
    print_reductions(reductions);

    const std::string weights = options.model.empty() ? setup.source() : options.model.filename().string();
    std::string title = "NalaSR " + config_text(config) + " (" + weights + ") on";
    for (const std::string& b : backends) title += " " + b + (b == backends.back() ? "" : ";");
    if (!options.out.empty()) {
        const BenchContext context{setup.source(), config, setup.base().parameter_count(), setup.random_kinds(), settings};
        if (!write_outputs(options, context, points, title)) return kExitSetup;
    } else {
        std::printf("\n(--out DIR writes CSV, JSON and the plot)\n");
    }
    if (interrupt_requested()) return kExitSignalBase + interrupt_signal();
    return failed ? kExitSomeFailed : kExitOk;
}

}  // namespace

int run_bench(const BenchOptions& options) {
    BenchSetup setup;
    if (Status st = setup.init(options); !st) return setup_error(st.message());
    if (options.repeats < 1) return setup_error("--repeats must be at least 1");
    if (options.warmup < 0) return setup_error("--warmup must be 0 or more");
    if (Status st = make_out_folder(options.out); !st) return setup_error(st.message());
    install_interrupt_handler();
    return options.max ? run_max(options, setup) : run_sweep(options, setup);
}

}  // namespace nalasr::cli
