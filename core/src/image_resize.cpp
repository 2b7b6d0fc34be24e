// resize_image (nalasr/image.h): OpenCV resampling of any of our image layouts.
#include <opencv2/imgproc.hpp>

#include <string>

#include "image_codec.h"
#include "nalasr/image.h"

namespace nalasr {

Status resize_image(const Image& in, int width, int height, Image* out) {
    if (in.empty() || in.width <= 0 || in.height <= 0 || in.channels < 1 || in.channels > 4)
        return {StatusCode::InvalidArgument, "resize_image: empty or malformed image"};
    if (width <= 0 || height <= 0 || std::int64_t(width) * height > (std::int64_t(1) << 31))
        return {StatusCode::InvalidArgument, "resize_image: the target size " + std::to_string(width) + "x" +
                                                 std::to_string(height) + " is not a usable image size"};
    Image result;
    try {
        result.allocate(width, height, in.channels, in.type);
    } catch (const std::bad_alloc&) {
        return {StatusCode::OutOfMemory, "resize_image: cannot allocate a " + std::to_string(width) + "x" +
                                             std::to_string(height) + " image"};
    }
    const int type = CV_MAKETYPE(detail::opencv_depth(in.type), in.channels);
    const cv::Mat src(in.height, in.width, type, const_cast<std::uint8_t*>(in.pixels.data()), in.row_bytes());
    cv::Mat dst(height, width, type, result.pixels.data(), result.row_bytes());
    const bool shrinking = std::int64_t(width) * height < std::int64_t(in.width) * in.height;
    // Writes into result's pixels. Integer samples saturate; float samples are left as they come (they may be HDR).
    cv::resize(src, dst, dst.size(), 0, 0, shrinking ? cv::INTER_AREA : cv::INTER_CUBIC);
    result.icc_profile = in.icc_profile;
    result.exif = in.exif;
    *out = std::move(result);
    return Status::ok();
}

}  // namespace nalasr
