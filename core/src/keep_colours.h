// "Keep input colours" (UpscaleParams::keep_input_colours): the network's luminance with the input's chroma.
//
// Why: a network trained for PSNR may shift colour or tone a little (yellowish skin, white coming out #FEFEFE).
// Chroma carries little of the detail a super-resolution network adds, so taking Cb/Cr from a plain bicubic
// upscale of the input, and only Y from the network, keeps the input's colours and most of the network's sharpness.
//
// What: both images are clamped to [0, 1] and converted to YCbCr (BT.601, full range: OpenCV's
// COLOR_RGB2YCrCb on float32); the result is the network's Y with the bicubic image's Cb and Cr, converted back
// to RGB and clamped to [0, 1]. It runs on the host on float RGB, after the network and its output check and
// before the sample conversion, so every backend and sample type gets it. Grey images do not need it (their
// output is the mean of R, G and B) and alpha has its own path; the engine calls this for colour images only.
#pragma once

#include <vector>

namespace nalasr {

// `input_rgb`: the input as float RGB (in_height, in_width, 3); `network_rgb`: the network's result as float RGB
// (out_height, out_width, 3), replaced by the result. Throws std::bad_alloc (or cv::Exception) when out of memory.
void keep_input_colours(const std::vector<float>& input_rgb, int in_width, int in_height,
                        std::vector<float>* network_rgb, int out_width, int out_height);

}  // namespace nalasr
