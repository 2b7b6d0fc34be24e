#include "bench_sizes.h"

#include <charconv>

namespace nalasr::cli {
namespace {

constexpr int kMaxSide = 16384;  // the engine refuses inputs above 2^28 pixels

bool parse_side(std::string_view text, int* out) {
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
    return ec == std::errc() && end == text.data() + text.size() && *out >= 1 && *out <= kMaxSide;
}

}  // namespace

std::string InputSize::text() const { return std::to_string(width) + "x" + std::to_string(height); }

std::vector<InputSize> default_bench_sizes() {
    return {{64, 64},     {128, 128},   {192, 192},   kClaimSize,   {384, 384},   {512, 512},   {960, 540},
            {1024, 1024}, {1448, 1448}, {2048, 2048}, {2896, 2896}, {4096, 4096}, {5792, 5792}, {8192, 8192}};
}

std::vector<InputSize> quick_bench_sizes() { return {{64, 64}, kClaimSize, {960, 540}, {2048, 2048}}; }

Status parse_bench_sizes(const std::string& text, std::vector<InputSize>* out) {
    out->clear();
    std::string_view rest = text;
    while (!rest.empty()) {
        const std::size_t comma = rest.find(',');
        const std::string_view item = rest.substr(0, comma);
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
        const std::size_t x = item.find('x');
        InputSize size;
        const bool ok = x == std::string_view::npos
                            ? parse_side(item, &size.width) && parse_side(item, &size.height)
                            : parse_side(item.substr(0, x), &size.width) && parse_side(item.substr(x + 1), &size.height);
        if (!ok)
            return {StatusCode::InvalidArgument, "--sizes: '" + std::string(item) +
                                                     "' is not a size (use S for a square or WxH, sides 1 to " +
                                                     std::to_string(kMaxSide) + ", separated by commas)"};
        out->push_back(size);
    }
    if (out->empty()) return {StatusCode::InvalidArgument, "--sizes: no sizes given"};
    return Status::ok();
}

}  // namespace nalasr::cli
