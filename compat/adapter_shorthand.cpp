#include "compat/adapter_shorthand.h"

#include <cctype>
#include <cmath>
#include <cstdlib>

#include "utilities/error.h"

namespace workers::compat {
namespace {

std::string trim(const std::string& s) {
  std::size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

bool parse_number(const std::string& text, double& out) {
  if (text.empty()) return false;
  char* end = nullptr;
  out = std::strtod(text.c_str(), &end);
  return end == text.c_str() + text.size() && std::isfinite(out);
}

}  // namespace

AdapterShorthand parse_adapter_shorthand(const std::string& text, const std::string& field) {
  AdapterShorthand result;
  std::string body = trim(text);
  auto colon = body.rfind(':');
  double weight = 0;
  if (colon != std::string::npos && parse_number(trim(body.substr(colon + 1)), weight)) {
    result.weight = weight;
    result.has_weight = true;
    body = trim(body.substr(0, colon));
  }
  if (body.empty()) throw_invalid(field, "\"" + text + "\" has no name (expected \"name\" or \"name:0.8\")");
  result.name = body;
  return result;
}

}  // namespace workers::compat
