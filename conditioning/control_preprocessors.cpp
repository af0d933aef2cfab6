#include "conditioning/control_preprocessors.h"

#include <algorithm>
#include <cmath>

#include <opencv2/imgproc.hpp>

#include "utilities/error.h"

namespace workers {
namespace {

const std::vector<std::string> kComputed = {"canny", "scribble", "lineart", "mlsd", "normal"};
const std::vector<std::string> kPassThrough = {"none", "depth", "pose", "openpose", "seg", "segmentation"};
// Preprocessors that need a network: named so the error can say what to do.
const std::vector<std::string> kNeural = {"midas", "depth_midas", "zoe", "depth_zoe", "leres", "dwpose",
                                          "openpose_full", "hed", "softedge", "pidinet", "lineart_anime",
                                          "normal_bae", "oneformer", "uniformer", "tile"};

cv::Mat rgb_mat(const Image& image) {
  cv::Mat mat(image.height, image.width, image.channels == 1 ? CV_8UC1 : CV_8UC3,
              const_cast<std::uint8_t*>(image.pixels.data()));
  cv::Mat rgb;
  if (image.channels == 1) {
    cv::cvtColor(mat, rgb, cv::COLOR_GRAY2RGB);
  } else {
    rgb = mat.clone();
  }
  return rgb;
}

// A one- or three-channel 8-bit map as an RGB Image.
Image to_image(const cv::Mat& map) {
  cv::Mat rgb;
  if (map.channels() == 1) {
    cv::cvtColor(map, rgb, cv::COLOR_GRAY2RGB);
  } else {
    rgb = map;
  }
  Image out{rgb.cols, rgb.rows, 3, {}};
  out.pixels.assign(rgb.datastart, rgb.dataend);
  return out;
}

// Per-pixel minimum over the channels of a float image.
cv::Mat channel_min(const cv::Mat& image) {
  std::vector<cv::Mat> channels;
  cv::split(image, channels);
  cv::Mat out = channels[0].clone();
  for (std::size_t c = 1; c < channels.size(); ++c) out = cv::min(out, channels[c]);
  return out;
}

cv::Mat canny(const cv::Mat& rgb, const ControlPreprocessOptions& o) {
  cv::Mat edges;
  cv::Canny(rgb, edges, o.threshold_a.value_or(100.0), o.threshold_b.value_or(200.0));
  return edges;
}

// XDoG: white strokes where a fine blur is darker than a coarse one by more than threshold/2.
cv::Mat scribble(const cv::Mat& rgb, const ControlPreprocessOptions& o) {
  cv::Mat f, g1, g2;
  rgb.convertTo(f, CV_32FC3);
  cv::GaussianBlur(f, g1, cv::Size(0, 0), 0.5);
  cv::GaussianBlur(f, g2, cv::Size(0, 0), 5.0);
  cv::Mat dog;  // A1111: (255 - min over channels of (g2 - g1)), clipped and stored as uint8
  cv::Mat difference = 255.0 - channel_min(g2 - g1);
  difference.convertTo(dog, CV_8U);  // saturates to 0..255
  dog.convertTo(difference, CV_32F);
  return 2.0 * (255.0 - difference) > o.threshold_a.value_or(32.0);  // 255 where a stroke is
}

// Dark lines on the blurred surround, normalised by the median line strength.
cv::Mat lineart(const cv::Mat& rgb) {
  cv::Mat f, g;
  rgb.convertTo(f, CV_32FC3);
  cv::GaussianBlur(f, g, cv::Size(0, 0), 6.0);
  cv::Mat intensity = channel_min(g - f);
  cv::min(cv::max(intensity, 0.0), 255.0, intensity);
  std::vector<float> strong;
  for (int y = 0; y < intensity.rows; ++y) {
    const float* row = intensity.ptr<float>(y);
    for (int x = 0; x < intensity.cols; ++x) {
      if (row[x] > 8.0f) strong.push_back(row[x]);
    }
  }
  double median = 0.0;
  if (!strong.empty()) {
    std::nth_element(strong.begin(), strong.begin() + strong.size() / 2, strong.end());
    median = strong[strong.size() / 2];
  }
  cv::Mat out;
  intensity.convertTo(out, CV_8U, 127.0 / std::max(16.0, median));  // saturating
  return out;
}

std::vector<LineSegment> segments(const cv::Mat& rgb, double min_length) {
  cv::Mat gray;
  cv::cvtColor(rgb, gray, cv::COLOR_RGB2GRAY);
  auto detector = cv::createLineSegmentDetector(cv::LSD_REFINE_STD);
  std::vector<cv::Vec4f> lines;
  detector->detect(gray, lines);
  std::vector<LineSegment> out;
  for (const auto& l : lines) {
    if (std::hypot(l[2] - l[0], l[3] - l[1]) >= min_length) out.push_back({l[0], l[1], l[2], l[3]});
  }
  return out;
}

// Straight segments at least threshold_a pixels long (default: 2 % of the shorter side), drawn
// one pixel wide in white on black, as MLSD maps are.
cv::Mat mlsd(const cv::Mat& rgb, const ControlPreprocessOptions& o) {
  cv::Mat out = cv::Mat::zeros(rgb.rows, rgb.cols, CV_8UC1);
  for (const auto& s : segments(rgb, o.threshold_a.value_or(0.02 * std::min(rgb.cols, rgb.rows)))) {
    cv::line(out, cv::Point(cvRound(s.x0), cvRound(s.y0)), cv::Point(cvRound(s.x1), cvRound(s.y1)), cv::Scalar(255), 1,
             cv::LINE_8);
  }
  return out;
}

// The depth map's gradients as surface normals, as the MiDaS annotator makes them: (Sobel x,
// Sobel y, 2π) normalised, background (depth below threshold_a of the range, default 0.1) flat,
// stored as (z, y, x) in RGB.
cv::Mat normal_from_depth(const cv::Mat& rgb, const ControlPreprocessOptions& o) {
  cv::Mat gray, depth;
  cv::cvtColor(rgb, gray, cv::COLOR_RGB2GRAY);
  gray.convertTo(depth, CV_32F);
  cv::Mat dx, dy;
  cv::Sobel(depth, dx, CV_32F, 1, 0, 3);
  cv::Sobel(depth, dy, CV_32F, 0, 1, 3);
  double lo = 0.0, hi = 0.0;
  cv::minMaxLoc(depth, &lo, &hi);
  const double background = lo + o.threshold_a.value_or(0.1) * (hi - lo);
  const float z = static_cast<float>(2.0 * M_PI);
  cv::Mat out(rgb.rows, rgb.cols, CV_8UC3);
  for (int y = 0; y < out.rows; ++y) {
    for (int x = 0; x < out.cols; ++x) {
      const bool flat = hi > lo && depth.at<float>(y, x) < background;
      const float nx = flat ? 0.0f : dx.at<float>(y, x);
      const float ny = flat ? 0.0f : dy.at<float>(y, x);
      const float norm = std::sqrt(nx * nx + ny * ny + z * z);
      auto to8 = [](float v) { return cv::saturate_cast<std::uint8_t>(v * 127.5f + 127.5f); };
      out.at<cv::Vec3b>(y, x) = cv::Vec3b(to8(z / norm), to8(ny / norm), to8(nx / norm));
    }
  }
  return out;
}

bool contains(const std::vector<std::string>& list, const std::string& name) {
  return std::find(list.begin(), list.end(), name) != list.end();
}

}  // namespace

std::vector<LineSegment> detect_line_segments(const Image& image, double min_length) {
  return segments(rgb_mat(image), min_length);
}

const std::vector<std::string>& control_preprocessor_names() {
  static const std::vector<std::string> names = [] {
    auto all = kComputed;
    all.insert(all.end(), kPassThrough.begin(), kPassThrough.end());
    return all;
  }();
  return names;
}

bool is_computed_preprocessor(const std::string& name) { return contains(kComputed, name); }

Image preprocess_control_image(const Image& image, const std::string& name, const ControlPreprocessOptions& options,
                               const std::string& field) {
  if (contains(kNeural, name)) {
    throw_invalid(field, "\"" + name + "\" needs a neural network, which this engine does not run; compute the map "
                         "elsewhere and pass it as the image with preprocess \"none\" (depth, pose and segmentation "
                         "maps are used as given)");
  }
  if (!contains(control_preprocessor_names(), name)) {
    std::string known;
    for (const auto& n : control_preprocessor_names()) known += (known.empty() ? "" : ", ") + n;
    throw_invalid(field, "unknown preprocessor \"" + name + "\"; known: " + known);
  }
  if (image.width <= 0 || image.height <= 0) throw_invalid(field, "the control image is empty");
  try {
    const cv::Mat rgb = rgb_mat(image);
    if (name == "canny") return to_image(canny(rgb, options));
    if (name == "scribble") return to_image(scribble(rgb, options));
    if (name == "lineart") return to_image(lineart(rgb));
    if (name == "mlsd") return to_image(mlsd(rgb, options));
    if (name == "normal") return to_image(normal_from_depth(rgb, options));
    return to_image(rgb);  // pass-through: the map as the user computed it
  } catch (const cv::Exception& e) {
    throw_invalid(field, "\"" + name + "\" failed on this image: " + e.msg.substr(0, 200));
  }
}

}  // namespace workers
