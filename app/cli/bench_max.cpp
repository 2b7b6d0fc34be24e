#include "bench_max.h"

#include <chrono>

namespace nalasr::cli {

LargestSquare find_largest_square(const Engine& engine, const std::string& device, bool verify,
                                  const AbortFn& should_abort) {
    LargestSquare result;
    result.device = device;
    result.backend = engine.backend_name();
    result.attention = engine.config().attention;
    result.available_bytes = engine.available_bytes();
    result.side = engine.largest_square_that_fits(result.available_bytes);
    if (result.side == 0) return result;
    result.planned_bytes = engine.predict_peak_bytes(result.side, result.side);
    if (!verify) return result;

    result.verified = true;
    const std::size_t tokens = std::size_t(result.side) * result.side;
    std::vector<float> rgb, out;
    try {
        rgb.assign(tokens * 3, 0.5f);
    } catch (const std::bad_alloc&) {
        result.verify_status = {StatusCode::OutOfMemory, "cannot allocate the input in host memory"};
        return result;
    }
    UpscaleParams params;
    params.should_abort = should_abort;
    UpscaleStats stats;
    const auto start = std::chrono::steady_clock::now();
    result.verify_status = engine.run_network(rgb.data(), result.side, result.side, &out, params, &stats);
    result.verify_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    result.observed_bytes = stats.observed_peak_bytes;
    return result;
}

nlohmann::ordered_json largest_square_json(const LargestSquare& r) {
    nlohmann::ordered_json json = {
        {"device", r.device},
        {"backend", r.backend},
        {"attention", attention_kind_name(r.attention)},
        {"side", r.side},
        {"tokens", std::size_t(r.side) * r.side},
        {"planned_peak_bytes", r.planned_bytes},
        {"available_bytes", r.available_bytes},
        {"verified", r.verified},
    };
    if (r.verified) {
        json["verify_status"] = r.verify_status ? "ok" : status_code_name(r.verify_status.code());
        json["verify_message"] = r.verify_status ? nlohmann::ordered_json(nullptr)
                                                 : nlohmann::ordered_json(r.verify_status.message());
        json["observed_peak_bytes"] = r.verify_status ? nlohmann::ordered_json(r.observed_bytes) : nullptr;
        json["verify_seconds"] = r.verify_seconds;
    }
    return json;
}

}  // namespace nalasr::cli
