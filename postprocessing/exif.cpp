#include "postprocessing/exif.h"

#include <cstdint>

namespace workers {
namespace {

constexpr std::uint16_t kExifIfdPointer = 0x8769;
constexpr std::uint16_t kUserComment = 0x9286;
constexpr std::uint16_t kLong = 4, kUndefined = 7;
constexpr std::string_view kUnicode{"UNICODE\0", 8};
constexpr std::string_view kAscii{"ASCII\0\0\0", 8};
constexpr std::string_view kExifHeader{"Exif\0\0", 6};

void put_be(std::string& out, std::uint32_t v, int bytes) {
  for (int shift = 8 * (bytes - 1); shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((v >> shift) & 0xFF));
}

void put_le(std::string& out, std::uint32_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

std::uint32_t get(std::string_view s, std::size_t at, int bytes, bool little) {
  std::uint32_t v = 0;
  for (int i = 0; i < bytes; ++i) {
    const auto b = static_cast<unsigned char>(s[at + (little ? bytes - 1 - i : i)]);
    v = (v << 8) | b;
  }
  return v;
}

// UTF-8 to code points; malformed or overlong sequences and surrogates become U+FFFD.
std::u32string decode_utf8(const std::string& s) {
  std::u32string out;
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const int extra = c < 0x80         ? 0
                      : (c >> 5) == 6  ? 1
                      : (c >> 4) == 14 ? 2
                      : (c >> 3) == 30 ? 3
                                       : -1;
    char32_t cp = extra == 0 ? c : extra == 1 ? c & 0x1F : extra == 2 ? c & 0x0F : c & 0x07;
    bool ok = extra >= 0 && i + extra < s.size();
    for (int k = 1; ok && k <= extra; ++k) {
      const auto next = static_cast<unsigned char>(s[i + k]);
      ok = (next & 0xC0) == 0x80;
      cp = (cp << 6) | (next & 0x3F);
    }
    static const char32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (ok && (cp < kMin[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))) ok = false;
    out.push_back(ok ? cp : 0xFFFD);
    i += ok ? extra + 1 : 1;
  }
  return out;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::string decode_utf16(std::string_view s, bool little) {
  std::string out;
  for (std::size_t i = 0; i + 1 < s.size(); i += 2) {
    char32_t unit = get(s, i, 2, little);
    if (unit >= 0xD800 && unit <= 0xDBFF && i + 3 < s.size()) {
      const char32_t low = get(s, i + 2, 2, little);
      if (low >= 0xDC00 && low <= 0xDFFF) {
        unit = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
        i += 2;
      }
    }
    if (unit >= 0xD800 && unit <= 0xDFFF) unit = 0xFFFD;
    append_utf8(out, unit);
  }
  return out;
}

// One IFD entry's value bytes (inline when at most 4), bounds-checked.
std::optional<std::string_view> find_tag(std::string_view tiff, std::uint32_t ifd,
                                         std::uint16_t tag, bool little) {
  if (ifd + 2 > tiff.size()) return std::nullopt;
  const std::uint32_t count = get(tiff, ifd, 2, little);
  for (std::uint32_t i = 0; i < count; ++i) {
    const std::size_t entry = ifd + 2 + 12 * std::size_t{i};
    if (entry + 12 > tiff.size()) return std::nullopt;
    if (get(tiff, entry, 2, little) != tag) continue;
    const std::uint32_t type = get(tiff, entry + 2, 2, little);
    const std::uint32_t n = get(tiff, entry + 4, 4, little);
    const std::uint64_t size = std::uint64_t{n} * (type == kLong ? 4 : 1);
    const std::uint64_t at = size <= 4 ? entry + 8 : get(tiff, entry + 8, 4, little);
    if (at + size > tiff.size()) return std::nullopt;
    return tiff.substr(static_cast<std::size_t>(at), static_cast<std::size_t>(size));
  }
  return std::nullopt;
}

std::optional<std::string> user_comment_of(std::string_view tiff) {
  if (tiff.substr(0, 6) == kExifHeader) tiff.remove_prefix(6);
  if (tiff.size() < 8 || (tiff.substr(0, 2) != "II" && tiff.substr(0, 2) != "MM"))
    return std::nullopt;
  const bool little = tiff[0] == 'I';
  const auto pointer = find_tag(tiff, get(tiff, 4, 4, little), kExifIfdPointer, little);
  if (!pointer || pointer->size() != 4) return std::nullopt;
  const auto comment = find_tag(tiff, get(*pointer, 0, 4, little), kUserComment, little);
  if (!comment || comment->size() < 8) return std::nullopt;
  const auto prefix = comment->substr(0, 8), body = comment->substr(8);
  if (prefix == kUnicode) {
    const bool body_little = body.size() >= 2 && body.substr(0, 2) == "\xFF\xFE";
    const bool bom = body_little || (body.size() >= 2 && body.substr(0, 2) == "\xFE\xFF");
    return decode_utf16(bom ? body.substr(2) : body, bom ? body_little : little);
  }
  return std::string(body);  // ASCII or undefined: the bytes as they are
}

}  // namespace

std::string exif_user_comment_block(const std::string& utf8) {
  std::string comment(kUnicode);
  for (char32_t cp : decode_utf8(utf8)) {
    if (cp >= 0x10000) {
      put_be(comment, 0xD800 + ((cp - 0x10000) >> 10), 2);
      put_be(comment, 0xDC00 + ((cp - 0x10000) & 0x3FF), 2);
    } else {
      put_be(comment, cp, 2);
    }
  }
  constexpr std::uint32_t kIfd0 = 8, kExifIfd = kIfd0 + 2 + 12 + 4, kData = kExifIfd + 2 + 12 + 4;
  std::string tiff = "MM";
  put_be(tiff, 42, 2);
  put_be(tiff, kIfd0, 4);
  auto ifd = [&](std::uint16_t tag, std::uint16_t type, std::uint32_t count, std::uint32_t value) {
    put_be(tiff, 1, 2);  // one entry
    put_be(tiff, tag, 2);
    put_be(tiff, type, 2);
    put_be(tiff, count, 4);
    put_be(tiff, value, 4);
    put_be(tiff, 0, 4);  // no next IFD
  };
  ifd(kExifIfdPointer, kLong, 1, kExifIfd);
  ifd(kUserComment, kUndefined, static_cast<std::uint32_t>(comment.size()), kData);
  return tiff + comment;
}

std::string insert_jpeg_exif(const std::string& jpeg, const std::string& tiff) {
  constexpr std::size_t kMaxSegment = 65535;
  const std::size_t length = 2 + kExifHeader.size() + tiff.size();
  if (jpeg.size() < 4 || jpeg.compare(0, 2, "\xFF\xD8") || length > kMaxSegment) return jpeg;
  std::size_t at = 2;
  // JFIF wants its APP0 segment first; EXIF readers find APP1 after it.
  if (jpeg.size() >= 11 && jpeg.compare(2, 2, "\xFF\xE0") == 0 &&
      jpeg.compare(6, 5, std::string("JFIF\0", 5)) == 0) {
    at = 4 + get(jpeg, 4, 2, false);
    if (at > jpeg.size()) return jpeg;
  }
  std::string segment = "\xFF\xE1";
  put_be(segment, static_cast<std::uint32_t>(length), 2);
  segment += kExifHeader;
  segment += tiff;
  std::string out = jpeg;
  out.insert(at, segment);
  return out;
}

std::string insert_webp_exif(const std::string& webp, const std::string& tiff, int width,
                             int height) {
  if (webp.size() < 20 || webp.compare(0, 4, "RIFF") || webp.compare(8, 4, "WEBP")) return webp;
  std::string body = webp.substr(12);
  const std::string first = body.substr(0, 4);
  if (first == "VP8X") {
    body[8] = static_cast<char>(body[8] | 0x08);  // EXIF flag
  } else {
    std::uint8_t flags = 0x08;
    // VP8L: signature byte, then 14 + 14 bits of size and the alpha_is_used bit.
    if (first == "VP8L" && body.size() >= 13 && (static_cast<unsigned char>(body[12]) & 0x10))
      flags |= 0x10;
    std::string header = "VP8X";
    put_le(header, 10, 4);
    header.push_back(static_cast<char>(flags));
    header.append(3, '\0');
    put_le(header, static_cast<std::uint32_t>(width - 1), 3);
    put_le(header, static_cast<std::uint32_t>(height - 1), 3);
    body = header + body;
  }
  body += "EXIF";
  put_le(body, static_cast<std::uint32_t>(tiff.size()), 4);
  body += tiff;
  if (tiff.size() % 2) body.push_back('\0');
  std::string out = "RIFF";
  put_le(out, static_cast<std::uint32_t>(4 + body.size()), 4);
  return out + "WEBP" + body;
}

std::optional<std::string> exif_user_comment(std::string_view file) {
  if (file.size() >= 4 && file.substr(0, 2) == "\xFF\xD8") {
    std::size_t at = 2;
    while (at + 4 <= file.size() && static_cast<unsigned char>(file[at]) == 0xFF) {
      const auto marker = static_cast<unsigned char>(file[at + 1]);
      if (marker == 0xDA || marker == 0xD9) break;  // image data: no more metadata segments
      const std::size_t length = get(file, at + 2, 2, false);
      if (length < 2 || at + 2 + length > file.size()) break;
      const auto data = file.substr(at + 4, length - 2);
      if (marker == 0xE1 && data.substr(0, 6) == kExifHeader) return user_comment_of(data);
      at += 2 + length;
    }
    return std::nullopt;
  }
  if (file.size() >= 12 && file.substr(0, 4) == "RIFF" && file.substr(8, 4) == "WEBP") {
    for (std::size_t at = 12; at + 8 <= file.size();) {
      const std::size_t size = get(file, at + 4, 4, true);
      if (at + 8 + size > file.size()) break;
      if (file.substr(at, 4) == "EXIF") return user_comment_of(file.substr(at + 8, size));
      at += 8 + size + (size % 2);
    }
  }
  return std::nullopt;
}

}  // namespace workers
