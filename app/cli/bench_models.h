// The network `nalasr bench` runs for each attention kind: the given model with its `attention` switched when its
// weights fit that kind (NaLa and softmax share every tensor), else random weights of the same config
// (memory and time do not depend on the weights' values).
#pragma once

#include "nalasr/model.h"

namespace nalasr::cli {

// `random_weights` tells whether the returned model's weights are random rather than `base`'s.
Model model_for_kind(const Model& base, AttentionKind kind, bool* random_weights);

}  // namespace nalasr::cli
