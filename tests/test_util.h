// Helpers shared by the CPU tests: random data and error metrics.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

namespace nalasr::test {

// Uniform floats in [lo, hi), deterministic in `seed`; never all zeros.
inline std::vector<float> random_floats(std::size_t n, std::uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
    std::mt19937_64 rng(seed);
    std::vector<float> v(n);
    for (float& x : v) x = lo + (hi - lo) * float(double(rng() >> 11) * 0x1.0p-53);
    return v;
}

inline std::vector<double> to_double(const std::vector<float>& v) { return {v.begin(), v.end()}; }

// ‖got − want‖₂ / ‖want‖₂.
inline double rel_l2(const std::vector<float>& got, const std::vector<double>& want) {
    double num = 0, den = 0;
    for (std::size_t i = 0; i < want.size(); ++i) {
        const double diff = double(got[i]) - want[i];
        num += diff * diff;
        den += want[i] * want[i];
    }
    return std::sqrt(num / (den > 0 ? den : 1.0));
}

inline double rel_l2(const std::vector<float>& got, const std::vector<float>& want) {
    return rel_l2(got, to_double(want));
}

// Prints the error so test logs carry the numbers, not only pass/fail.
inline void print_error(const std::string& what, double error) {
    std::printf("  [error] %-48s rel L2 = %.3e\n", what.c_str(), error);
}

}  // namespace nalasr::test
