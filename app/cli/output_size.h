// Output size control for `nalasr upscale`: --outscale F (any factor), --width W / --height H (exact pixels; one of
// them alone keeps the aspect ratio). The network always runs at the model's scale; a different final size is
// made by resampling its result (resize_image: area when shrinking, bicubic when enlarging).
#pragma once

#include <string>

namespace nalasr::cli {

struct OutputSize {
    double factor = 0;  // --outscale; 0: not given
    int width = 0;      // --width; 0: not given
    int height = 0;     // --height; 0: not given

    bool resamples() const { return factor > 0 || width > 0 || height > 0; }
};

// "" when the options can be used together, else why not (e.g. --outscale with --width).
std::string check_output_size(const OutputSize& size);

// The final size of an input of in_width × in_height upscaled by the model's `model_scale`.
void final_output_size(const OutputSize& size, int in_width, int in_height, int model_scale, long long* width,
                       long long* height);

// The model scale to pick for --outscale when no model or scale is named: the smallest of 2, 3, 4 that is not
// below the factor (4 above ×4), so the network adds detail and resampling only shrinks.
int model_scale_for(double factor);

// {scale} in output names: "1.5" for --outscale 1.5, else the model's scale.
std::string scale_text(const OutputSize& size, int model_scale);

}  // namespace nalasr::cli
