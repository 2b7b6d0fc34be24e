// Backend helpers shared by every backend, and the Engine methods built on them.
#include <cstdio>
#include <functional>

#include "backend.h"

namespace nalasr {
namespace {

// Largest side s in [0, max_side] with predict(s, s) <= budget. Predicted peaks grow monotonically with the side.
int bisect_largest_square(const std::function<std::size_t(int, int)>& predict, std::size_t budget_bytes,
                          int max_side) {
    int lo = 0, hi = max_side;
    if (predict(hi, hi) <= budget_bytes) return hi;
    while (hi - lo > 1) {
        const int mid = lo + (hi - lo) / 2;
        if (predict(mid, mid) <= budget_bytes) lo = mid;
        else hi = mid;
    }
    return lo;
}

}  // namespace

int largest_square_that_fits(const Backend& backend, std::size_t budget_bytes, std::size_t bytes_per_input_pixel) {
    // 32768² tokens: beyond any real input, and softmax's N² bytes still fit size_t.
    return bisect_largest_square(
        [&](int w, int h) { return backend.predict_peak_bytes(w, h) + std::size_t(w) * h * bytes_per_input_pixel; },
        budget_bytes, 1 << 15);
}

double ms_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

std::string gib(std::size_t bytes) {
    char text[32];
    std::snprintf(text, sizeof text, "%.2f GiB", double(bytes) / double(1ull << 30));
    return text;
}

int Engine::largest_square_that_fits(std::size_t budget_bytes) const {
    // The engine refuses inputs above 2^28 pixels, so no larger side is worth reporting.
    return bisect_largest_square([&](int w, int h) { return predict_peak_bytes(w, h); }, budget_bytes, 1 << 14);
}

}  // namespace nalasr
