// keep_input_colours (keep_colours.h): the network's Y with the chroma of a bicubic upscale of the input.
#include "keep_colours.h"

#include <opencv2/imgproc.hpp>

#include "bicubic_unit.h"

namespace nalasr {

void keep_input_colours(const std::vector<float>& input_rgb, int in_width, int in_height,
                        std::vector<float>* network_rgb, int out_width, int out_height) {
    const cv::Mat input(in_height, in_width, CV_32FC3, const_cast<float*>(input_rgb.data()));
    cv::Mat network(out_height, out_width, CV_32FC3, network_rgb->data());  // wraps the result: changed in place

    // OpenCV's float YCrCb is BT.601 full range: Y in [0, 1], Cr and Cb centred on 0.5; channels Y, Cr, Cb.
    cv::Mat bicubic = upscale_bicubic_unit(input, network.size());
    cv::cvtColor(bicubic, bicubic, cv::COLOR_RGB2YCrCb);
    clamp_unit(network);
    cv::cvtColor(network, network, cv::COLOR_RGB2YCrCb);

    // Y from the network, Cr and Cb from the bicubic image.
    for (int y = 0; y < out_height; ++y) {
        float* dst = network.ptr<float>(y);
        const float* src = bicubic.ptr<float>(y);
        for (int x = 0; x < out_width; ++x) {
            dst[3 * x + 1] = src[3 * x + 1];
            dst[3 * x + 2] = src[3 * x + 2];
        }
    }
    cv::cvtColor(network, network, cv::COLOR_YCrCb2RGB);
    clamp_unit(network);  // Y with other chroma may fall outside the RGB cube
}

}  // namespace nalasr
