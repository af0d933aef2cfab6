// Views between the torch-free 8-bit Image and OpenCV's cv::Mat, for the folders that link OpenCV
// (conditioning reads input images, postprocessing encodes outputs). Header-only: utilities itself
// neither includes it nor links OpenCV.
#pragma once

#include <cstdint>
#include <string_view>

#include <opencv2/core.hpp>

#include "utilities/image.h"

namespace workers {

// A cv::Mat over the image's pixels (no copy; valid while `image` is).
inline cv::Mat as_mat(const Image& image) {
  const int type = image.channels == 1 ? CV_8UC1 : CV_8UC3;
  return cv::Mat(image.height, image.width, type, const_cast<std::uint8_t*>(image.pixels.data()));
}

// A copy of an 8-bit cv::Mat's pixels.
inline Image from_mat(const cv::Mat& mat) {
  Image image;
  image.width = mat.cols;
  image.height = mat.rows;
  image.channels = mat.channels();
  cv::Mat contiguous = mat.isContinuous() ? mat : mat.clone();
  image.pixels.assign(contiguous.data, contiguous.data + contiguous.total() * contiguous.elemSize());
  return image;
}

// A big-endian 32-bit field (PNG chunk lengths); `at + 4` must lie inside `bytes`.
inline std::uint32_t big_endian_u32(std::string_view bytes, std::size_t at) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(bytes[at + i]);
  return v;
}

}  // namespace workers
