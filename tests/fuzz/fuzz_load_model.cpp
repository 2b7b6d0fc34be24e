// libFuzzer target: Model::load_memory (safetensors header JSON, offsets, dtypes, shapes against the config)
// on arbitrary bytes. Bad input must come back as a Status: never a crash, a sanitizer report or a hang.
#include <cstdint>

#include "nalasr/model.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    nalasr::Model model;
    if (nalasr::Model::load_memory(data, size, "fuzz.safetensors", &model).is_ok() && !model.config().validate())
        __builtin_trap();  // a model that loaded must have a valid config
    return 0;
}
