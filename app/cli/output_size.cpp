#include "output_size.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace nalasr::cli {

std::string check_output_size(const OutputSize& size) {
    if (size.factor > 0 && (size.width > 0 || size.height > 0))
        return "--outscale and --width/--height exclude each other";
    if (size.factor != 0 && !(size.factor >= 0.05 && size.factor <= 64))
        return "--outscale wants a factor between 0.05 and 64";
    return {};
}

void final_output_size(const OutputSize& size, int in_width, int in_height, int model_scale, long long* width,
                       long long* height) {
    auto at_least_one = [](double v) { return std::max(1LL, std::llround(v)); };
    if (size.factor > 0) {
        *width = at_least_one(in_width * size.factor);
        *height = at_least_one(in_height * size.factor);
    } else if (size.width > 0 && size.height > 0) {
        *width = size.width;
        *height = size.height;
    } else if (size.width > 0) {
        *width = size.width;
        *height = at_least_one(double(in_height) * size.width / in_width);
    } else if (size.height > 0) {
        *height = size.height;
        *width = at_least_one(double(in_width) * size.height / in_height);
    } else {
        *width = 1LL * in_width * model_scale;
        *height = 1LL * in_height * model_scale;
    }
}

int model_scale_for(double factor) { return factor <= 2 ? 2 : factor <= 3 ? 3 : 4; }

std::string scale_text(const OutputSize& size, int model_scale) {
    if (size.factor <= 0) return std::to_string(model_scale);
    char text[32];
    std::snprintf(text, sizeof text, "%g", size.factor);
    return text;
}

}  // namespace nalasr::cli
