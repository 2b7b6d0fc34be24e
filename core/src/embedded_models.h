// The safetensors files compiled into the library, from the generated embedded_models.cpp (core/CMakeLists.txt):
// every resources/models/*.safetensors present at configure time, sorted by name. Empty in builds without any.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace nalasr::detail {

struct EmbeddedModel {
    const char* name;  // the file's stem, e.g. "nalasr_nala_x4"
    const std::uint8_t* bytes;
    std::size_t size;
};

const std::vector<EmbeddedModel>& embedded_models();

}  // namespace nalasr::detail
