// Helpers of the CUDA tests: GPU detection (every test skips cleanly without one), device arrays, float16
// rounding and the error metric.
//
// Tolerance policy. The kernels read and write float16 activations and compute in float32. Before the CPU
// reference runs, every input and weight a kernel sees in float16 is rounded through float16, so the reference
// sees the same values; what remains is the rounding of float16 outputs (relative 2⁻¹¹, an NMSE near 1e-7),
// float32 summation order, and --use_fast_math intrinsics. Each op's bound (kNmse* below) is set a little above
// what that leaves, with the reason beside it. NMSE = mse(got, want) / mse(want, 0).
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "../test_util.h"
#include "cuda/cuda_check.h"
#include "cuda/device_buffer.h"

namespace nalasr::test {

inline bool gpu_available() {
    static const bool available = [] {
        int count = 0;
        const bool ok = cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
        cudaGetLastError();
        return ok;
    }();
    return available;
}

#define NALASR_SKIP_WITHOUT_GPU() \
    if (!::nalasr::test::gpu_available()) GTEST_SKIP() << "no CUDA GPU on this machine"

inline float round_f16(float x) { return __half2float(__float2half_rn(x)); }
inline std::vector<float> round_f16(std::vector<float> v) {
    for (float& x : v) x = round_f16(x);
    return v;
}

inline double nmse(const std::vector<float>& got, const std::vector<double>& want) {
    double err = 0, ref = 0;
    for (std::size_t i = 0; i < want.size(); ++i) {
        const double d = double(got[i]) - want[i];
        err += d * d;
        ref += want[i] * want[i];
    }
    return err / (ref > 0 ? ref : 1.0);
}
inline double nmse(const std::vector<float>& got, const std::vector<float>& want) {
    return nmse(got, to_double(want));
}

constexpr double kMinPsnr8Bit = 50.0;  // dB, CUDA vs CPU on 8-bit outputs (the end-to-end bound)

// PSNR of two float images after the engine's 8-bit conversion (clamp to [0, 1], round).
inline double psnr_8bit(const std::vector<float>& a, const std::vector<float>& b) {
    double se = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        const auto q = [](float v) { return std::lround(std::clamp(double(v), 0.0, 1.0) * 255.0); };
        const double d = double(q(a[i]) - q(b[i]));
        se += d * d;
    }
    const double mse = se / double(a.size());
    return mse == 0 ? 99.0 : 10.0 * std::log10(255.0 * 255.0 / mse);
}

inline bool all_finite(const std::vector<float>& v) {
    for (float x : v)
        if (!std::isfinite(x)) return false;
    return true;
}

// A device array of T (float or __half) filled from / read back into float vectors.
template <typename T>
class DeviceArray {
public:
    explicit DeviceArray(std::size_t n) : n_(n) { EXPECT_TRUE(buffer_.allocate(n * sizeof(T)).is_ok()); }
    DeviceArray(const std::vector<float>& values) : DeviceArray(values.size()) { upload(values); }

    void upload(const std::vector<float>& values) {
        std::vector<T> host(values.size());
        for (std::size_t i = 0; i < values.size(); ++i) host[i] = T(values[i]);
        EXPECT_EQ(cudaMemcpy(buffer_.data(), host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice),
                  cudaSuccess);
    }
    std::vector<float> download() const {
        std::vector<T> host(n_);
        EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
        EXPECT_EQ(cudaMemcpy(host.data(), buffer_.data(), n_ * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
        return std::vector<float>(host.begin(), host.end());
    }
    T* get() const { return reinterpret_cast<T*>(buffer_.data()); }

private:
    std::size_t n_;
    cuda::DeviceBuffer buffer_;
};

inline void report(const std::string& what, double error, double bound) {
    std::printf("  [nmse] %-64s %.3e (bound %.0e)\n", what.c_str(), error, bound);
}

}  // namespace nalasr::test
