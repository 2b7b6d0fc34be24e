// The default model's safetensors bytes, embedded by the generated default_model.cpp (core/CMakeLists.txt).
// Both return null/0 in builds without resources/models/nalasr_nala_x4.safetensors.
#pragma once

#include <cstddef>
#include <cstdint>

namespace nalasr::detail {

const std::uint8_t* default_model_bytes();
std::size_t default_model_size();

}  // namespace nalasr::detail
