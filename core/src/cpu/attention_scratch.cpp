// Scratch sizes of the attention cores, for the memory planner (must match what they allocate).
#include "cpu/linear_attention_state.h"
#include "cpu/ops.h"
#include "nalasr/model.h"

namespace nalasr::cpu {

std::size_t attention_scratch_bytes(int kind, std::size_t N, int C, int heads) {
    if (kind == int(AttentionKind::Softmax)) return N * N * sizeof(float);
    return linear_attention::scratch_floats(N, C, heads) * sizeof(float);
}

}  // namespace nalasr::cpu
