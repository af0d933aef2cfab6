#include "conditioning/workers/input_images.h"

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <vector>

#include "utilities/cv_image.h"
#include "utilities/error.h"
#include "utilities/pil_resample.h"

namespace workers {
namespace {

// OpenCV's decoded BGR/BGRA/gray, in 8 bits, to RGB or gray.
Image convert_decoded(cv::Mat mat, int channels, const std::string& field) {
  if (mat.empty())
    throw_invalid(field, "is not an image OpenCV can decode (PNG, JPEG, WEBP, BMP, TIFF, ...)");
  if (mat.depth() != CV_8U) {
    cv::Mat eight;
    mat.convertTo(eight, CV_8U, mat.depth() == CV_16U ? 1.0 / 257.0 : 255.0);
    mat = eight;
  }
  cv::Mat out;
  const int in = mat.channels();
  if (channels == 3) {
    if (in == 1)
      cv::cvtColor(mat, out, cv::COLOR_GRAY2RGB);
    else if (in == 4)
      cv::cvtColor(mat, out, cv::COLOR_BGRA2RGB);
    else
      cv::cvtColor(mat, out, cv::COLOR_BGR2RGB);
  } else {
    if (in == 1)
      out = mat;
    else if (in == 4)
      cv::cvtColor(mat, out, cv::COLOR_BGRA2GRAY);
    else
      cv::cvtColor(mat, out, cv::COLOR_BGR2GRAY);
  }
  return from_mat(out);
}


// Only these formats reach OpenCV: Debian's OpenCV also links decoders (DICOM through GDCM,
// GDAL, ...) that abort the process on malformed input, which the image fuzzer found.
const char* sniff_format(std::string_view b) {
  auto starts = [&](std::string_view magic, std::size_t at = 0) {
    return b.size() >= at + magic.size() && b.substr(at, magic.size()) == magic;
  };
  if (starts("\x89PNG\r\n\x1a\n")) return "png";
  if (starts("\xFF\xD8\xFF")) return "jpeg";
  if (starts("RIFF") && starts("WEBP", 8)) return "webp";
  if (starts("BM")) return "bmp";
  return nullptr;
}

// Decoded images are capped at 64 megapixels (8192²) before OpenCV allocates for a header's claim.
void limit_decoded_pixels() {
  static std::once_flag once;
  std::call_once(once, [] { ::setenv("OPENCV_IO_MAX_IMAGE_PIXELS", "67108864", /*overwrite=*/0); });
}

// The PNG's chunks without its text chunks (tEXt, zTXt, iTXt: metadata, never pixels). A chunk
// running past the end is refused: a 132-byte PNG whose iTXt claims more than the file holds
// made libpng allocate and touch 1.5 GB before failing (found by fuzz_image_input).
std::vector<std::uint8_t> png_without_text(std::string_view png, const std::string& field) {
  std::vector<std::uint8_t> out(png.begin(), png.begin() + 8);
  std::size_t at = 8;
  while (at < png.size()) {
    if (png.size() - at < 12)
      throw_invalid(field,
                    "is a truncated PNG (a chunk header at byte " + std::to_string(at) + ")");
    const std::uint64_t length = big_endian_u32(png, at);
    const std::string_view type = png.substr(at + 4, 4);
    if (length > png.size() - at - 12) {
      throw_invalid(field, "is a malformed PNG: its " + std::string(type) + " chunk at byte " +
                               std::to_string(at) + " claims " + std::to_string(length) +
                               " bytes, past the end of the file");
    }
    const std::size_t end = at + 12 + static_cast<std::size_t>(length);
    if (type != "tEXt" && type != "zTXt" && type != "iTXt")
      out.insert(out.end(), png.begin() + at, png.begin() + end);
    at = end;
    if (type == "IEND") break;
  }
  return out;
}

}  // namespace

Image decode_image(std::string_view bytes, int channels, const std::string& field) {
  const char* format = sniff_format(bytes);
  if (!format) throw_invalid(field, "is not a PNG, JPEG, WEBP or BMP image");
  limit_decoded_pixels();
  std::vector<std::uint8_t> buffer = std::string_view(format) == "png"
                                         ? png_without_text(bytes, field)
                                         : std::vector<std::uint8_t>(bytes.begin(), bytes.end());
  cv::Mat mat;
  try {
    mat = cv::imdecode(buffer, cv::IMREAD_UNCHANGED | cv::IMREAD_IGNORE_ORIENTATION);
  } catch (const cv::Exception&) {
    mat = cv::Mat();
  }
  return convert_decoded(mat, channels, field);
}

Image read_image_file(const std::string& path, int channels, const std::string& field) {
  return decode_image(read_file_bytes(path, field), channels, field);
}

std::string read_file_bytes(const std::string& path, const std::string& field) {
  constexpr std::uintmax_t kMaxBytes = 256u << 20;
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) throw_invalid(field, "\"" + path + "\" cannot be read: " + ec.message());
  if (size > kMaxBytes) throw_invalid(field, "\"" + path + "\" is larger than 256 MiB");
  std::ifstream in(path, std::ios::binary);
  std::string bytes(static_cast<std::size_t>(size), '\0');
  if (!in.read(bytes.data(), static_cast<std::streamsize>(size))) {
    throw_invalid(field, "\"" + path + "\" cannot be read");
  }
  return bytes;
}

Image resize_image(const Image& image, int width, int height) {
  if (image.width == width && image.height == height) return image;
  return pil_resize(image, width, height, PilFilter::kLanczos);
}

}  // namespace workers
