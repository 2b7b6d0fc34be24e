// Output size control: the size arithmetic of --outscale/--width/--height (app/cli/output_size.h), resize_image
// (nalasr/image.h) against a float64 reference, and the CLI writing the asked size under the asked name.
#include <gtest/gtest.h>

#include <cmath>

#include "output_size.h"
#include "test_cli_support.h"

namespace fs = std::filesystem;
using namespace nalasr;
using namespace nalasr::test;

TEST(OutputSize, FinalSizes) {
    long long w = 0, h = 0;
    cli::final_output_size({}, 200, 100, 4, &w, &h);
    EXPECT_EQ(w, 800);
    EXPECT_EQ(h, 400);
    cli::final_output_size({.factor = 1.5}, 201, 101, 2, &w, &h);
    EXPECT_EQ(w, 302);  // 301.5 rounds away from zero
    EXPECT_EQ(h, 152);
    cli::final_output_size({.width = 1920}, 960, 540, 4, &w, &h);
    EXPECT_EQ(w, 1920);
    EXPECT_EQ(h, 1080);
    cli::final_output_size({.height = 100}, 300, 200, 4, &w, &h);
    EXPECT_EQ(w, 150);
    EXPECT_EQ(h, 100);
    cli::final_output_size({.width = 30, .height = 7}, 20, 10, 2, &w, &h);
    EXPECT_EQ(w, 30);
    EXPECT_EQ(h, 7);
    cli::final_output_size({.factor = 0.05}, 3, 3, 2, &w, &h);
    EXPECT_EQ(w, 1);  // never below one pixel
}

TEST(OutputSize, ModelScaleNamesAndChecks) {
    EXPECT_EQ(cli::model_scale_for(0.5), 2);
    EXPECT_EQ(cli::model_scale_for(1.5), 2);
    EXPECT_EQ(cli::model_scale_for(2.5), 3);
    EXPECT_EQ(cli::model_scale_for(3.0), 3);
    EXPECT_EQ(cli::model_scale_for(8.0), 4);
    EXPECT_EQ(cli::scale_text({.factor = 1.5}, 2), "1.5");
    EXPECT_EQ(cli::scale_text({.width = 100}, 4), "4");
    EXPECT_TRUE(cli::check_output_size({.factor = 2}).empty());
    EXPECT_FALSE(cli::check_output_size({.factor = 2, .width = 10}).empty());
    EXPECT_FALSE(cli::check_output_size({.factor = -1}).empty());
    EXPECT_FALSE(cli::check_output_size({.factor = 100}).empty());
}

// Shrinking by an integer factor is area averaging: each output pixel is the mean of its k×k block (float64
// reference); enlarging keeps the layout, the type and the metadata, and a constant image stays constant.
TEST(OutputSize, ResizeImageAgainstAReference) {
    const Image in = random_image(24, 18, 3, SampleType::F32, 5);
    Image out;
    ASSERT_TRUE(resize_image(in, 8, 6, &out));
    ASSERT_EQ(out.width, 8);
    ASSERT_EQ(out.height, 6);
    const float* src = reinterpret_cast<const float*>(in.pixels.data());
    const float* dst = reinterpret_cast<const float*>(out.pixels.data());
    double err = 0, norm = 0;
    for (int y = 0; y < 6; ++y)
        for (int x = 0; x < 8; ++x)
            for (int c = 0; c < 3; ++c) {
                double mean = 0;
                for (int dy = 0; dy < 3; ++dy)
                    for (int dx = 0; dx < 3; ++dx) mean += src[((y * 3 + dy) * 24 + x * 3 + dx) * 3 + c] / 9.0;
                err += std::pow(dst[(y * 8 + x) * 3 + c] - mean, 2);
                norm += mean * mean;
            }
    const double rel = std::sqrt(err / norm);
    std::printf("  [error] area shrink 24x18 -> 8x6 vs float64 block means: rel L2 = %.3e\n", rel);
    EXPECT_LT(rel, 1e-6);

    Image grey = random_image(5, 4, 2, SampleType::U16, 6);
    grey.icc_profile = {1, 2, 3};
    grey.exif = {4, 5};
    for (std::size_t i = 0; i < grey.pixels.size(); i += 2) grey.pixels[i] = 7, grey.pixels[i + 1] = 1;  // 263
    ASSERT_TRUE(resize_image(grey, 13, 9, &out));
    EXPECT_EQ(out.channels, 2);
    EXPECT_EQ(out.type, SampleType::U16);
    EXPECT_EQ(out.icc_profile, grey.icc_profile);
    EXPECT_EQ(out.exif, grey.exif);
    const std::uint16_t* px = reinterpret_cast<const std::uint16_t*>(out.pixels.data());
    for (std::size_t i = 0; i < out.pixels.size() / 2; ++i) ASSERT_EQ(px[i], 263) << i;

    EXPECT_EQ(resize_image(grey, 0, 9, &out).code(), StatusCode::InvalidArgument);
    EXPECT_EQ(resize_image(Image(), 4, 4, &out).code(), StatusCode::InvalidArgument);
}

TEST_F(CliTest, OutscaleAndWidthSetTheFinalSize) {
    ASSERT_TRUE(save_image(dir_ / "a.png", random_image(20, 10, 3, SampleType::U8, 3)).is_ok());
    CliRun run = run_cli({"upscale", (dir_ / "a.png").string(), "-o", (dir_ / "out").string(), "-m",
                          model_.string(), "--device", "cpu", "--outscale", "3"});
    std::printf("%s", run.output.c_str());
    ASSERT_EQ(run.exit_code, 0);
    Image out;
    ASSERT_TRUE(load_image(dir_ / "out/a_x3.png", &out).is_ok());  // the x2 model, then enlarged to x3
    EXPECT_EQ(out.width, 60);
    EXPECT_EQ(out.height, 30);

    run = run_cli({"upscale", (dir_ / "a.png").string(), "-o", (dir_ / "out").string(), "-m", model_.string(),
                   "--device", "cpu", "--width", "25"});
    ASSERT_EQ(run.exit_code, 0) << run.output;
    ASSERT_TRUE(load_image(dir_ / "out/a_x2.png", &out).is_ok());
    EXPECT_EQ(out.width, 25);
    EXPECT_EQ(out.height, 13);  // 12.5 rounds up

    run = run_cli({"upscale", (dir_ / "a.png").string(), "-o", (dir_ / "out2").string(), "-m", model_.string(),
                   "--outscale", "2", "--height", "5"});
    EXPECT_EQ(run.exit_code, 2);
    EXPECT_NE(run.output.find("exclude each other"), std::string::npos) << run.output;
}
