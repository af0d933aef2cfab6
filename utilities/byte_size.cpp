#include "utilities/byte_size.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace workers {

std::optional<std::uint64_t> parse_byte_size(const std::string& text) {
  std::size_t i = 0;
  auto skip_spaces = [&] {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  };
  skip_spaces();
  const std::size_t number_start = i;
  bool dot = false;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || (text[i] == '.' && !dot))) {
    dot = dot || text[i] == '.';
    ++i;
  }
  const std::string number = text.substr(number_start, i - number_start);
  if (number.empty() || number == ".") return std::nullopt;
  skip_spaces();
  std::string unit;
  while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) {
    unit += static_cast<char>(std::tolower(static_cast<unsigned char>(text[i])));
    ++i;
  }
  skip_spaces();
  if (i != text.size()) return std::nullopt;
  double scale = 1;
  if (unit.empty() || unit == "b") {
    scale = 1;
  } else {
    static const char kPrefixes[] = "kmgt";
    const char prefix = unit[0];
    const std::string rest = unit.substr(1);
    std::size_t power = 0;
    while (kPrefixes[power] && kPrefixes[power] != prefix) ++power;
    if (!kPrefixes[power] || !(rest.empty() || rest == "b" || rest == "ib")) return std::nullopt;
    scale = std::pow(1024.0, static_cast<double>(power + 1));
  }
  // strtod, not stod: a number past double's range is "no size", not an exception.
  const double value = std::strtod(number.c_str(), nullptr) * scale;
  if (!std::isfinite(value) || value >= 18446744073709549568.0) return std::nullopt;  // below 2^64
  return static_cast<std::uint64_t>(value + 0.5);
}

std::string format_bytes(std::uint64_t bytes) {
  static const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  double value = static_cast<double>(bytes) / 1024.0;
  int unit = 0;
  while (value >= 1024.0 && unit < 3) {
    value /= 1024.0;
    ++unit;
  }
  char out[32];
  std::snprintf(out, sizeof out, value >= 100 ? "%.0f %s" : (value >= 10 ? "%.1f %s" : "%.2f %s"), value, kUnits[unit]);
  return out;
}

}  // namespace workers
