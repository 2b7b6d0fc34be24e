// Float images whose samples belong in [0, 1] (alpha, RGB before sample conversion), resampled with OpenCV's
// bicubic filter: its overshoot at edges is clamped away. Shared by the alpha path and "keep colours".
#pragma once

#include <algorithm>
#include <opencv2/imgproc.hpp>

namespace nalasr {

// Clamps every sample of a CV_32F image (any channel count) to [0, 1], in place.
inline void clamp_unit(cv::Mat& image) {
    for (int y = 0; y < image.rows; ++y) {
        float* row = image.ptr<float>(y);
        for (int x = 0; x < image.cols * image.channels(); ++x) row[x] = std::clamp(row[x], 0.0f, 1.0f);
    }
}

// Bicubic resample of a CV_32F image to `size`, clamped to [0, 1].
inline cv::Mat upscale_bicubic_unit(const cv::Mat& src, cv::Size size) {
    cv::Mat dst;
    cv::resize(src, dst, size, 0, 0, cv::INTER_CUBIC);
    clamp_unit(dst);
    return dst;
}

}  // namespace nalasr
