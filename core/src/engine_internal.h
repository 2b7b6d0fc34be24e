// How an Engine is put together from backends, private to core/ (engine.cpp). Engine::create uses it with the real
// backends; the tests use it with fake ones (tests/test_output_check.cpp).
#pragma once

#include <functional>
#include <memory>

#include "backend.h"

namespace nalasr {

// Creates a backend on demand.
using BackendFactory = std::function<Status(std::unique_ptr<Backend>* out)>;

// An Engine running `backend`. When the backend computes in reduced precision (Backend::reduced_precision) and
// `float32_backend` is given, an image whose output is non-finite or black (for an input that is not) is redone on
// the backend the factory creates: once per Engine, the first time one is needed (thread-safe).
std::unique_ptr<Engine> make_engine(const ModelConfig& config, std::unique_ptr<Backend> backend,
                                    BackendFactory float32_backend);

}  // namespace nalasr
