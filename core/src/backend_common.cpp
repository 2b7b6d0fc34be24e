// Backend helpers shared by every backend.
#include "backend.h"

namespace nalasr {

int largest_square_that_fits(const Backend& backend, std::size_t budget_bytes) {
    // Predicted peaks grow monotonically with the side, so bisect on [0, 2^15].
    int lo = 0, hi = 1 << 15;  // 32768² tokens: beyond any real input, and softmax's N² bytes still fit size_t
    if (backend.predict_peak_bytes(hi, hi) <= budget_bytes) return hi;
    while (hi - lo > 1) {
        const int mid = lo + (hi - lo) / 2;
        if (backend.predict_peak_bytes(mid, mid) <= budget_bytes) lo = mid;
        else hi = mid;
    }
    return lo;
}

}  // namespace nalasr
