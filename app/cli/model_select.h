// Which model `nalasr` runs: -m FILE, else the default model compiled into the library (×4), else
// resources/models/nalasr_nala_x{scale}.safetensors from the model folders below.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "nalasr/model.h"
#include "nalasr/status.h"

namespace nalasr::cli {

// Folders searched for bundled models, in order: $NALASR_MODELS_DIR, the source tree's resources/models, the
// installed share/nalasr/models (next to the executable, then the configured install prefix). Existing only.
std::vector<std::filesystem::path> model_folders();

// The *.safetensors files in model_folders().
std::vector<std::filesystem::path> available_model_files();

// Loads the model to run. `model_file` empty: the default one for `scale` (0: the default model's own
// scale). A scale that differs from the loaded model's is an InvalidArgument with both numbers in the text.
Status select_model(const std::filesystem::path& model_file, int scale, Model* out, std::string* source);

}  // namespace nalasr::cli
