// Turning the user's choices (a model, a device) into a nalasr::Engine, and listing what there is to choose.
// Thin wrappers over the public engine API: no network logic here.
#pragma once

#include <QString>
#include <QStringList>
#include <memory>
#include <vector>

#include "nalasr/engine.h"
#include "nalasr/model.h"
#include "nalasr/status.h"

namespace nalasr::gui {

// What an engine is built from. Equal specs can share one engine (weights stay loaded across a batch).
struct EngineSpec {
    QString model_path;              // a safetensors file; empty: the built-in model `model_name`
    QString device = QStringLiteral("auto");  // "auto", "cpu" or "cuda:<index>"
    QString model_name;              // a built-in model (nalasr::builtin_models()); empty: the default one
    bool operator==(const EngineSpec&) const = default;
};

struct DeviceOption {
    QString id;     // as in EngineSpec::device
    QString label;  // "CPU", "GPU 0: NVIDIA H100 80GB HBM3 (79.1 GiB)"
};
// Auto, CPU, then every CUDA GPU this build can use, by index and name.
std::vector<DeviceOption> available_devices();

// A model to choose: built in (`name`) or a file (`path`).
struct ModelOption {
    QString path;     // a safetensors file; empty for a built-in model
    QString label;    // "NaLa ×4 — nalasr_nala_x4.safetensors", "NaLa ×4 (built in · Set5 31.71 dB)"
    int scale = 0;    // from the built-in model's config, or from the file name
    QString name;     // the built-in model's name; empty for a file
    QString tooltip;  // a built-in model's name and parameter count
};
// The models compiled into the library, by name.
std::vector<ModelOption> builtin_model_options();
// Models named nalasr_<kind>_x<scale>.safetensors in the given folders (missing folders are skipped).
std::vector<ModelOption> discover_models(const QStringList& folders);
// What the model choice offers: the built-in models, then the files in `folders` except those named like a built-in
// model (the source tree's and an installation's resources/models hold the very files that are built in).
std::vector<ModelOption> model_options(const QStringList& folders);
// Where models are looked for: $NALASR_MODELS_DIR, <app>/../share/nalasr/models, the source tree's resources/models.
QStringList default_model_folders();

// "auto" / "cpu" / "cuda:N" → EngineParams; InvalidArgument for anything else.
Status parse_device(const QString& device, EngineParams* out);
// Loads the model of a spec: its file, else its built-in model, else the default built-in model.
Status load_model(const EngineSpec& spec, Model* out);
Status create_engine(const EngineSpec& spec, std::unique_ptr<Engine>* out);

}  // namespace nalasr::gui
