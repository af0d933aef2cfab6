#include "postprocessing/image_codec.h"

#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "postprocessing/exif.h"
#include "utilities/error.h"

namespace workers {
namespace {

cv::Mat as_mat(const Image& image) {
  const int type = image.channels == 1 ? CV_8UC1 : CV_8UC3;
  return cv::Mat(image.height, image.width, type, const_cast<std::uint8_t*>(image.pixels.data()));
}

Image from_mat(const cv::Mat& mat) {
  Image image;
  image.width = mat.cols;
  image.height = mat.rows;
  image.channels = mat.channels();
  cv::Mat contiguous = mat.isContinuous() ? mat : mat.clone();
  image.pixels.assign(contiguous.data, contiguous.data + contiguous.total() * contiguous.elemSize());
  return image;
}

// OpenCV's decoded BGR/BGRA/gray, in 8 bits, to RGB or gray.
Image convert_decoded(cv::Mat mat, int channels, const std::string& field) {
  if (mat.empty()) throw_invalid(field, "is not an image OpenCV can decode (PNG, JPEG, WEBP, BMP, TIFF, ...)");
  if (mat.depth() != CV_8U) {
    cv::Mat eight;
    mat.convertTo(eight, CV_8U, mat.depth() == CV_16U ? 1.0 / 257.0 : 255.0);
    mat = eight;
  }
  cv::Mat out;
  const int in = mat.channels();
  if (channels == 3) {
    if (in == 1) cv::cvtColor(mat, out, cv::COLOR_GRAY2RGB);
    else if (in == 4) cv::cvtColor(mat, out, cv::COLOR_BGRA2RGB);
    else cv::cvtColor(mat, out, cv::COLOR_BGR2RGB);
  } else {
    if (in == 1) out = mat;
    else if (in == 4) cv::cvtColor(mat, out, cv::COLOR_BGRA2GRAY);
    else cv::cvtColor(mat, out, cv::COLOR_BGR2GRAY);
  }
  return from_mat(out);
}

std::uint32_t crc32(const std::string& bytes) {
  static const auto table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t n = 0; n < 256; ++n) {
      std::uint32_t c = n;
      for (int k = 0; k < 8; ++k) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[n] = c;
    }
    return t;
  }();
  std::uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : bytes) c = table[(c ^ b) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

void put_u32(std::string& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xFF));
}

std::uint32_t get_u32(std::string_view s, std::size_t at) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(s[at + i]);
  return v;
}

std::string png_chunk(const std::string& type, const std::string& data) {
  std::string body = type + data, out;
  put_u32(out, static_cast<std::uint32_t>(data.size()));
  out += body;
  put_u32(out, crc32(body));
  return out;
}

bool is_ascii(const std::string& s) {
  for (unsigned char c : s) {
    if (c >= 0x80) return false;
  }
  return true;
}

// Only these formats reach OpenCV: Debian's OpenCV also links decoders (DICOM through GDCM,
// GDAL, ...) that abort the process on malformed input, which the image fuzzer found.
const char* sniff_format(std::string_view b) {
  auto starts = [&](std::string_view magic, std::size_t at = 0) { return b.size() >= at + magic.size() && b.substr(at, magic.size()) == magic; };
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

}  // namespace

namespace {

// The PNG's chunks without its text chunks (tEXt, zTXt, iTXt: metadata, never pixels). A chunk
// running past the end is refused: a 132-byte PNG whose iTXt claims more than the file holds
// made libpng allocate and touch 1.5 GB before failing (found by fuzz_image_input).
std::vector<std::uint8_t> png_without_text(std::string_view png, const std::string& field) {
  std::vector<std::uint8_t> out(png.begin(), png.begin() + 8);
  std::size_t at = 8;
  while (at < png.size()) {
    if (png.size() - at < 12) throw_invalid(field, "is a truncated PNG (a chunk header at byte " + std::to_string(at) + ")");
    const std::uint64_t length = get_u32(png, at);
    const std::string_view type = png.substr(at + 4, 4);
    if (length > png.size() - at - 12) {
      throw_invalid(field, "is a malformed PNG: its " + std::string(type) + " chunk at byte " + std::to_string(at) +
                               " claims " + std::to_string(length) + " bytes, past the end of the file");
    }
    const std::size_t end = at + 12 + static_cast<std::size_t>(length);
    if (type != "tEXt" && type != "zTXt" && type != "iTXt") out.insert(out.end(), png.begin() + at, png.begin() + end);
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
  return decode_image(bytes, channels, field);
}

Image resize_image(const Image& image, int width, int height) {
  if (image.width == width && image.height == height) return image;
  cv::Mat out;
  cv::resize(as_mat(image), out, cv::Size(width, height), 0, 0, cv::INTER_LANCZOS4);
  return from_mat(out);
}

Image thumbnail(const Image& image, int max_side) {
  const int longer = std::max(image.width, image.height);
  if (longer <= max_side) return image;
  const double f = static_cast<double>(max_side) / longer;
  const int w = std::max(1, static_cast<int>(image.width * f + 0.5));
  const int h = std::max(1, static_cast<int>(image.height * f + 0.5));
  cv::Mat out;
  cv::resize(as_mat(image), out, cv::Size(w, h), 0, 0, cv::INTER_AREA);
  return from_mat(out);
}

std::string encode_image(const Image& image, const std::string& format, const TextChunks& text, int quality) {
  cv::Mat bgr;
  if (image.channels == 3) cv::cvtColor(as_mat(image), bgr, cv::COLOR_RGB2BGR);
  else bgr = as_mat(image);
  std::vector<int> params;
  std::string extension;
  if (format == "png") {
    extension = ".png";
    params = {cv::IMWRITE_PNG_COMPRESSION, 6};
  } else if (format == "jpeg") {
    extension = ".jpg";
    params = {cv::IMWRITE_JPEG_QUALITY, quality};
  } else if (format == "webp") {
    extension = ".webp";
    params = {cv::IMWRITE_WEBP_QUALITY, quality};
  } else {
    throw_invalid("output_format", "must be png, jpeg or webp, got \"" + format + "\"");
  }
  std::vector<std::uint8_t> buffer;
  if (!cv::imencode(extension, bgr, buffer, params)) {
    throw Error(ErrorCode::kInternalError, "OpenCV could not encode a " + format + " image");
  }
  std::string bytes(buffer.begin(), buffer.end());
  if (format != "png") {
    for (const auto& [key, value] : text) {
      if (key != "parameters") continue;
      const std::string exif = exif_user_comment_block(value);
      return format == "jpeg" ? insert_jpeg_exif(bytes, exif)
                              : insert_webp_exif(bytes, exif, image.width, image.height);
    }
    return bytes;
  }
  if (text.empty()) return bytes;
  std::string chunks;
  for (const auto& [key, value] : text) {
    if (is_ascii(value)) {
      chunks += png_chunk("tEXt", key + '\0' + value);
    } else {  // iTXt: keyword, no compression, empty language tag and translated keyword, UTF-8
      chunks += png_chunk("iTXt", key + '\0' + '\0' + '\0' + '\0' + '\0' + value);
    }
  }
  constexpr std::size_t kAfterIhdr = 8 + 4 + 4 + 13 + 4;  // signature, then IHDR's length, type, data, CRC
  bytes.insert(kAfterIhdr, chunks);
  return bytes;
}

TextChunks png_text_chunks(std::string_view png) {
  TextChunks out;
  std::size_t at = 8;
  while (at + 12 <= png.size()) {
    const std::uint32_t length = get_u32(png, at);
    if (at + 12 + length > png.size()) break;
    const std::string type(png.substr(at + 4, 4));
    const std::string data(png.substr(at + 8, length));
    const auto nul = data.find('\0');
    if (nul != std::string::npos && type == "tEXt") out.emplace_back(data.substr(0, nul), data.substr(nul + 1));
    if (nul != std::string::npos && type == "iTXt") {
      std::size_t p = nul + 3;                 // compression flag and method
      p = data.find('\0', p);                  // end of language tag
      if (p != std::string::npos) p = data.find('\0', p + 1);  // end of translated keyword
      if (p != std::string::npos) out.emplace_back(data.substr(0, nul), data.substr(p + 1));
    }
    at += 12 + length;
  }
  return out;
}

std::optional<std::string> embedded_parameters(std::string_view file) {
  if (sniff_format(file) && std::string_view(sniff_format(file)) == "png") {
    for (auto& [key, value] : png_text_chunks(file)) {
      if (key == "parameters") return std::move(value);
    }
    return std::nullopt;
  }
  return exif_user_comment(file);
}

std::string base64_encode(std::string_view bytes) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const std::uint32_t v = (static_cast<unsigned char>(bytes[i]) << 16) |
                            (static_cast<unsigned char>(bytes[i + 1]) << 8) | static_cast<unsigned char>(bytes[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out.push_back(kAlphabet[(v >> s) & 63]);
  }
  if (i < bytes.size()) {
    std::uint32_t v = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(i + 1 < bytes.size() ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

}  // namespace workers
