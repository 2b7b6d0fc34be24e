// A CPU-backend Engine for a model, as the CPU tests build them (a failure to create it fails the test).
#pragma once

#include <gtest/gtest.h>

#include <memory>

#include "nalasr/engine.h"

namespace nalasr::test {

inline std::unique_ptr<Engine> cpu_engine(const Model& model, int threads = 0) {
    EngineParams params;
    params.backend = BackendKind::Cpu;
    params.cpu_threads = threads;  // 0: all cores
    std::unique_ptr<Engine> engine;
    const Status st = Engine::create(model, params, &engine);
    EXPECT_TRUE(st) << st.message();
    return engine;
}

}  // namespace nalasr::test
