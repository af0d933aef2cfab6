// The OpenCV control-map preprocessors on synthetic images (a rectangle, a line, a depth ramp)
// and on the fixture input, whose Canny 50/150 map the reference pipeline used.
#include <cmath>

#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include "conditioning/control_preprocessors.h"
#include "conditioning/workers/input_images.h"
#include "support/errors.h"

namespace workers {
namespace {

using testing_support::catch_error;

Image from_mat(const cv::Mat& rgb) {
  Image image{rgb.cols, rgb.rows, 3, {}};
  image.pixels.assign(rgb.datastart, rgb.dataend);
  return image;
}

cv::Mat to_mat(const Image& image) {
  return cv::Mat(image.height, image.width, CV_8UC3, const_cast<std::uint8_t*>(image.pixels.data())).clone();
}

// A filled white rectangle (x 16..47, y 20..43) on black, 64×64.
Image rectangle() {
  cv::Mat m = cv::Mat::zeros(64, 64, CV_8UC3);
  cv::rectangle(m, cv::Point(16, 20), cv::Point(47, 43), cv::Scalar(255, 255, 255), cv::FILLED);
  return from_mat(m);
}

int lit(const cv::Mat& map, cv::Rect area) {
  cv::Mat gray;
  cv::cvtColor(map(area), gray, cv::COLOR_RGB2GRAY);
  return cv::countNonZero(gray);
}

TEST(ControlPreprocessors, CannyEdgesLieOnTheRectangleBorderOnly) {
  const auto edges = to_mat(preprocess_control_image(rectangle(), "canny", {}, "controlnets[0].preprocess"));
  EXPECT_GT(lit(edges, cv::Rect(14, 18, 36, 28)), 100);           // around the border
  EXPECT_EQ(lit(edges, cv::Rect(19, 23, 26, 18)), 0);             // inside
  EXPECT_EQ(lit(edges, cv::Rect(0, 0, 64, 16)), 0);               // far above
  EXPECT_EQ(edges.at<cv::Vec3b>(20, 30)[0], edges.at<cv::Vec3b>(20, 30)[2]);  // gray in all three channels
}

TEST(ControlPreprocessors, CannyOfTheFixtureInputIsTheReferenceControlMap) {
  const auto input = read_image_file(std::string(SDXL_FIXTURES_DIR) + "/pipeline-inputs/input.png", 3, "input");
  const auto control = read_image_file(std::string(SDXL_FIXTURES_DIR) + "/pipeline-inputs/control.png", 3, "control");
  const auto edges = preprocess_control_image(input, "canny", {50.0, 150.0}, "p");
  EXPECT_EQ(edges.pixels, control.pixels);
}

TEST(ControlPreprocessors, LineSegmentDetectorFindsTheFourSidesOfARectangle) {
  const auto segments = detect_line_segments(rectangle(), 8.0);
  ASSERT_EQ(segments.size(), 4u);
  int horizontal = 0, vertical = 0;
  for (const auto& s : segments) {
    const double dx = std::abs(s.x1 - s.x0), dy = std::abs(s.y1 - s.y0);
    if (dy < 1.5 && dx > 25) ++horizontal;
    if (dx < 1.5 && dy > 18) ++vertical;
  }
  EXPECT_EQ(horizontal, 2);
  EXPECT_EQ(vertical, 2);
  const auto map = to_mat(preprocess_control_image(rectangle(), "mlsd", {}, "p"));
  EXPECT_GT(lit(map, cv::Rect(14, 18, 36, 28)), 80);
  EXPECT_EQ(lit(map, cv::Rect(20, 24, 24, 16)), 0);
}

TEST(ControlPreprocessors, ScribbleAndLineartMarkADrawnLineAndNothingFarFromIt) {
  cv::Mat m(64, 64, CV_8UC3, cv::Scalar(255, 255, 255));
  cv::line(m, cv::Point(8, 32), cv::Point(56, 32), cv::Scalar(0, 0, 0), 2);
  for (const char* name : {"scribble", "lineart"}) {
    const auto map = to_mat(preprocess_control_image(from_mat(m), name, {}, "p"));
    EXPECT_GT(lit(map, cv::Rect(12, 28, 40, 8)), 40) << name;
    EXPECT_EQ(lit(map, cv::Rect(0, 0, 64, 16)), 0) << name;
    EXPECT_EQ(lit(map, cv::Rect(0, 48, 64, 16)), 0) << name;
  }
}

TEST(ControlPreprocessors, NormalMapOfADepthRampIsItsSlopeAsMidasWouldStoreIt) {
  cv::Mat depth(32, 32, CV_8UC1);
  for (int y = 0; y < 32; ++y) {
    for (int x = 0; x < 32; ++x) depth.at<std::uint8_t>(y, x) = static_cast<std::uint8_t>(60 + 4 * x);
  }
  cv::Mat rgb;
  cv::cvtColor(depth, rgb, cv::COLOR_GRAY2RGB);
  const auto map = to_mat(preprocess_control_image(from_mat(rgb), "normal", {}, "p"));
  // Inside: Sobel x = 8 · 4 = 32 per pixel, Sobel y = 0, z = 2π; stored (z, y, x) in RGB.
  const double norm = std::sqrt(32.0 * 32.0 + 4 * M_PI * M_PI);
  const auto px = map.at<cv::Vec3b>(16, 16);
  EXPECT_NEAR(px[0], 2 * M_PI / norm * 127.5 + 127.5, 1.0);
  EXPECT_NEAR(px[1], 127.5, 1.0);
  EXPECT_NEAR(px[2], 32.0 / norm * 127.5 + 127.5, 1.0);
  // Below 10 % of the depth range is background: facing the camera.
  const auto flat = map.at<cv::Vec3b>(16, 0);
  EXPECT_EQ(flat[0], 255);
  EXPECT_NEAR(flat[2], 127.5, 1.0);
}

TEST(ControlPreprocessors, ComputedMapsPassThroughAndOthersAreRefusedWithTheField) {
  const auto image = rectangle();
  for (const char* name : {"none", "depth", "pose", "openpose", "seg", "segmentation"}) {
    EXPECT_EQ(preprocess_control_image(image, name, {}, "p").pixels, image.pixels) << name;
  }
  auto e = catch_error([&] { preprocess_control_image(image, "openpose_full", {}, "controlnets[1].preprocess"); });
  EXPECT_EQ(e.field, "controlnets[1].preprocess");
  EXPECT_NE(e.message.find("neural network"), std::string::npos) << e.message;
  e = catch_error([&] { preprocess_control_image(image, "sobel", {}, "controlnets[0].preprocess"); });
  EXPECT_EQ(e.code, ErrorCode::kInvalidRequest);
  EXPECT_NE(e.message.find("canny, scribble, lineart, mlsd, normal"), std::string::npos) << e.message;
}

}  // namespace
}  // namespace workers
