// The tiny random network the CPU, CLI and GUI tests build models from: every layer kind present, small enough
// that a forward pass takes milliseconds.
#pragma once

#include "nalasr/model.h"

namespace nalasr::test {

inline ModelConfig tiny_config(int scale = 2, AttentionKind kind = AttentionKind::Nala, int groups = 1) {
    ModelConfig config;
    config.channels = 16;
    config.heads = 2;
    config.groups = groups;
    config.blocks = 1;
    config.scale = scale;
    config.attention = kind;
    return config;
}

}  // namespace nalasr::test
