// TTA, the self-ensemble of UpscaleParams::tta: the network runs on the 8 dihedral transforms of the input (the
// identity, the two mirrors, the three rotations by multiples of 90° and the two transposes); each result is turned
// back to the input's orientation and the 8 are averaged in float32, always adding the passes in the order 0..7 so
// the result is deterministic. A backend that runs TTA itself (Backend::runs_tta: CUDA, on device buffers) gets it
// as one forward call; for the others it runs here, on the host on float RGB, around their forward passes
// (engine.cpp). Both use the index math of dihedral.h.
//
// Cost: 8 forward passes (8× the network time). The device peak is that of one pass, the larger of the two
// orientations (a rotation by 90° swaps width and height, and the planner's peak is not symmetric in them). Beside
// what one pass needs, TTA holds the float32 accumulator of the output and one input image: on the host, or on the
// device of a backend that runs TTA itself.
#pragma once

#include <algorithm>
#include <cstddef>
#include <functional>
#include <vector>

#include "backend.h"
#include "dihedral.h"

namespace nalasr {

// `out` becomes transform t of the float RGB image `rgb` (height, width, 3); its width and height are swapped when
// dihedral_swaps_axes(t).
void dihedral_transform(const float* rgb, int width, int height, int t, std::vector<float>* out);

// Adds the inverse of transform t of `transformed` (float RGB in transform t's orientation, e.g. the network's
// result on a transformed input) to `sum`, float RGB (height, width, 3) in the original orientation.
void add_inverse_dihedral(const std::vector<float>& transformed, int width, int height, int t, std::vector<float>* sum);

// The planner's peak of one TTA pass on a Backend or an Engine: the larger of the two orientations' predictions.
template <typename Planner>
std::size_t tta_peak_bytes(const Planner& planner, int width, int height) {
    const std::size_t peak = planner.predict_peak_bytes(width, height);
    return width == height ? peak : std::max(peak, planner.predict_peak_bytes(height, width));
}

// The memory TTA needs beside one pass: the float32 accumulator of the output and one input image (on the host,
// or on the device of a backend that runs TTA itself).
std::size_t tta_buffer_bytes(int width, int height, int scale);

// Refuses (OutOfMemory, with the largest square input that would fit) an input whose TTA passes cannot fit
// backend.available_bytes(): the peak of tta_peak_bytes, plus tta_buffer_bytes for a backend working in host memory
// (with the output of a pass) or running TTA itself. Checked before the first pass, so no pass runs in vain.
Status check_tta_memory(const Backend& backend, int width, int height, int scale);

// The progress stage name of pass `pass` (0..7): "network (TTA 1/8)" to "network (TTA 8/8)".
const char* tta_pass_stage(int pass);

// One forward pass on float RGB (width, height) → `out`, its output checked: progress mapped onto [begin, end] of
// the overall fraction under the stage name `stage`, figures and stages into `stats`.
using NetworkPass = std::function<Status(const float* rgb, int width, int height, std::vector<float>* out,
                                         double begin, double end, const char* stage, UpscaleStats* stats)>;

// Runs `pass` on the 8 transforms of `rgb` (width, height), pass k spanning [begin, end]'s k-th eighth under the
// stage "network (TTA k/8)", and makes `out` the mean of the results turned back: float RGB (s·height, s·width, 3).
// `cancelled` is polled between passes (Cancelled, `out` untouched). `stats` gets each stage's time summed over the
// passes plus "tta" (transforms and averaging), the largest planned and observed peak, and the passes' warnings.
Status run_tta(const float* rgb, int width, int height, int scale, const NetworkPass& pass,
               const std::function<bool()>& cancelled, double begin, double end, std::vector<float>* out,
               UpscaleStats* stats);

// run_tta with plain forward passes of `backend` (no output checks): the float32 redo of a TTA result that a backend
// computed itself. `control` spans the 8 passes; stats are not kept.
Status run_tta_on_host(const Backend& backend, const float* rgb, int width, int height, int scale,
                       std::vector<float>* out, const ForwardControl& control);

}  // namespace nalasr
