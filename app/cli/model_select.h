// Which model `nalasr` runs: -m FILE; else -n NAME (a built-in model, else NAME.safetensors in the model folders);
// else the built-in model of the -s scale and --attention kind (default x4 NaLa), else
// nalasr_{kind}_x{scale}.safetensors from the model folders below.
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

// The model options of a command; every field is optional.
struct ModelRequest {
    std::filesystem::path file;  // -m
    std::string name;            // -n
    int scale = 0;               // -s; 0: any (x4 when neither file nor name is given)
    std::string attention;       // --attention "nala" / "pola"; "": any (nala when neither file nor name is given)
};

// Loads the model a request names. A loaded model whose scale or kind differs from the request's is an
// InvalidArgument naming both; a name or scale with no model lists what exists. `source` says where the model
// came from: its path, or "NAME (built in)".
Status select_model(const ModelRequest& request, Model* out, std::string* source);

}  // namespace nalasr::cli
