// The shared first pass of the linear attentions (NaLa, Pola): per head, the state
//   S = (1/N) Σ_t a_tᵀ v_t   (2d × d)      and      m = (1/N) Σ_t b_t   (2d)
// where a_t, b_t are the kind's key feature maps of token t (NaLa: a = RoPE-rotated φk, b = φk; Pola: a = b = φk).
//
// Tokens are cut into a number of chunks that depends only on N; each chunk sums serially into its own partial
// state (in parallel), then the partials are added in chunk order. The result is therefore deterministic and
// independent of the thread count, and no serial sum runs over more than N/kMaxChunks tokens.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

#include "cpu/parallel.h"
#include "cpu/scratch.h"

namespace nalasr::cpu::linear_attention {

constexpr std::size_t kChunkTokens = 1024;
constexpr std::size_t kMaxChunks = 256;

inline std::size_t chunk_count(std::size_t N) {
    return std::clamp<std::size_t>((N + kChunkTokens - 1) / kChunkTokens, 1, kMaxChunks);
}

// Floats of one head's state: S (2d × d) then m (2d).
inline std::size_t head_state_floats(int d) { return std::size_t(2) * d * d + 2 * std::size_t(d); }

// Scratch floats of accumulate_state plus the final state (what the attention ops allocate).
inline std::size_t scratch_floats(std::size_t N, int C, int heads) {
    return (chunk_count(N) + 1) * heads * head_state_floats(C / heads);
}

// Fills `state` (heads × head_state_floats(d)) from qkvg (N, 4C). `features(t, head, k, a, b)` writes the 2d-wide
// maps a and b of token t's head slice k (d floats).
template <class KeyFeatures>
void accumulate_state(const float* qkvg, std::size_t N, int C, int heads, KeyFeatures features, float* state) {
    const int d = C / heads;
    const std::size_t head_floats = head_state_floats(d), all_heads = head_floats * heads;
    const std::size_t chunks = chunk_count(N), per_chunk = (N + chunks - 1) / chunks;
    Scratch partials(chunks * all_heads);

#pragma omp parallel if (N * C * d >= kParallelMinWork)
    {
        std::vector<float> a(2 * d), b(2 * d);
#pragma omp for schedule(static)
        for (std::size_t chunk = 0; chunk < chunks; ++chunk) {
            float* partial = partials.data() + chunk * all_heads;
            std::fill(partial, partial + all_heads, 0.0f);
            const std::size_t end = std::min(N, (chunk + 1) * per_chunk);
            for (std::size_t t = chunk * per_chunk; t < end; ++t) {
                const float* token = qkvg + t * 4 * C;
                for (int h = 0; h < heads; ++h) {
                    features(t, h, token + C + h * d, a.data(), b.data());
                    const float* v = token + 2 * C + h * d;
                    float* S = partial + h * head_floats;
                    float* m = S + 2 * d * d;
                    for (int i = 0; i < 2 * d; ++i) {
                        m[i] += b[i];
                        const float ai = a[i];
                        if (ai == 0.0f) continue;  // half of φk is zero (one sign per channel)
                        float* row = S + i * d;
                        for (int j = 0; j < d; ++j) row[j] += ai * v[j];
                    }
                }
            }
        }
    }

    const float inv_n = 1.0f / float(N);
    std::fill(state, state + all_heads, 0.0f);
    for (std::size_t chunk = 0; chunk < chunks; ++chunk) {
        const float* partial = partials.data() + chunk * all_heads;
        for (std::size_t i = 0; i < all_heads; ++i) state[i] += partial[i];
    }
    for (std::size_t i = 0; i < all_heads; ++i) state[i] *= inv_n;
}

}  // namespace nalasr::cpu::linear_attention
