#include "info_command.h"

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "exit_codes.h"
#include "model_select.h"
#include "nalasr/engine.h"
#include "text_format.h"

namespace nalasr::cli {
namespace {

void print_model(const Model& model) {
    const ModelConfig& c = model.config();
    std::printf("  x%d, %s attention, C=%d, heads=%d, groups=%d, blocks=%d, ffn_ratio=%d, %zu parameters\n", c.scale,
                attention_kind_name(c.attention), c.channels, c.heads, c.groups, c.blocks, c.ffn_ratio,
                model.parameter_count());
    std::printf("  provenance: %s\n", model.provenance().c_str());
}

std::string psnr_text(const std::optional<double>& psnr) {
    if (!psnr) return "-";
    char text[32];
    std::snprintf(text, sizeof(text), "%.2f dB", *psnr);
    return text;
}

// One row per built-in model (-n NAME selects one), then the default model's full config and provenance.
void print_builtin_models() {
    const std::vector<BuiltinModelInfo> models = builtin_models();
    if (models.empty()) {
        std::printf("Built-in models: none in this build\n");
        return;
    }
    std::printf("Built-in models (select with -n NAME, or -s/--attention):\n");
    std::printf("  %-20s %5s  %-9s %10s  %10s  %10s\n", "name", "scale", "attention", "parameters", "Set5 PSNR",
                "Set14 PSNR");
    for (const BuiltinModelInfo& model : models)
        std::printf("  %-20s    x%d  %-9s %10zu  %10s  %10s%s\n", model.name.c_str(), model.config.scale,
                    attention_kind_name(model.config.attention), model.parameter_count,
                    psnr_text(model.psnr_set5).c_str(), psnr_text(model.psnr_set14).c_str(),
                    model.name == kDefaultModelName ? "  (default)" : "");
    Model model;
    if (Status st = Model::load_default(&model); st) {
        std::printf("Default model %s:\n", kDefaultModelName);
        print_model(model);
    } else {
        std::printf("Default model: none (%s)\n", st.message().c_str());
    }
}

}  // namespace

int run_info() {
    std::printf("nalasr %s\n", version_string().c_str());
    std::printf("CUDA backend: %s\n", cuda_compiled() ? "compiled in" : "not compiled in (CPU-only build)");
    const std::vector<GpuInfo> gpus = list_gpus();
    if (gpus.empty()) std::printf("GPUs: none usable (upscaling runs on the CPU)\n");
    for (const GpuInfo& gpu : gpus)
        std::printf("GPU %d: %s, %s total, %s free, compute capability %d.%d\n", gpu.index, gpu.name.c_str(),
                    format_bytes(gpu.total_bytes).c_str(), format_bytes(gpu.free_bytes).c_str(), gpu.compute_major,
                    gpu.compute_minor);

    print_builtin_models();
    std::printf("Model folders:");
    const auto folders = model_folders();
    if (folders.empty()) std::printf(" none found");
    for (const auto& folder : folders) std::printf(" %s", folder.string().c_str());
    std::printf("\n");
    for (const auto& file : available_model_files()) {
        Model found;
        if (Status st = Model::load_file(file, &found); st) {
            std::printf("%s:\n", file.string().c_str());
            print_model(found);
        } else {
            std::printf("%s: not loadable: %s\n", file.string().c_str(), st.message().c_str());
        }
    }
    return kExitOk;
}

}  // namespace nalasr::cli
