#include "postprocessing/image_codec.h"

#include <array>
#include <cstdint>
#include <cstring>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "postprocessing/exif.h"
#include "utilities/cv_image.h"
#include "utilities/pil_resample.h"
#include "utilities/error.h"

namespace workers {
namespace {

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

}  // namespace

Image thumbnail(const Image& image, int max_side) {
  const int longer = std::max(image.width, image.height);
  if (longer <= max_side) return image;
  const double f = static_cast<double>(max_side) / longer;
  const int w = std::max(1, static_cast<int>(image.width * f + 0.5));
  const int h = std::max(1, static_cast<int>(image.height * f + 0.5));
  // PIL's bicubic, as Image.resize computes it (thumbnails in A1111 and galleries come from PIL).
  return pil_resize(image, w, h, PilFilter::kBicubic);
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
    const std::uint32_t length = big_endian_u32(png, at);
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
  if (file.substr(0, 8) == "\x89PNG\r\n\x1a\n") {
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
