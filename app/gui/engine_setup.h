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
    QString model_path;              // empty: the default model embedded in the library
    QString device = QStringLiteral("auto");  // "auto", "cpu" or "cuda:<index>"
    bool operator==(const EngineSpec&) const = default;
};

struct DeviceOption {
    QString id;     // as in EngineSpec::device
    QString label;  // "CPU", "GPU 0: NVIDIA H100 80GB HBM3 (79.1 GiB)"
};
// Auto, CPU, then every CUDA GPU this build can use, by index and name.
std::vector<DeviceOption> available_devices();

struct ModelOption {
    QString path;   // a safetensors file
    QString label;  // "NaLa ×4 — nalasr_nala_x4.safetensors"
    int scale = 0;  // from the file name
};
// Models named nalasr_<kind>_x<scale>.safetensors in the given folders (missing folders are skipped).
std::vector<ModelOption> discover_models(const QStringList& folders);
// Where models are looked for: $NALASR_MODELS_DIR, <app>/../share/nalasr/models, the source tree's resources/models.
QStringList default_model_folders();

// "auto" / "cpu" / "cuda:N" → EngineParams; InvalidArgument for anything else.
Status parse_device(const QString& device, EngineParams* out);
// Loads the model of a spec (the embedded default when the path is empty).
Status load_model(const QString& model_path, Model* out);
Status create_engine(const EngineSpec& spec, std::unique_ptr<Engine>* out);

}  // namespace nalasr::gui
