// parse_http_target: the request target's path and query, decoded once for every route, so the
// handlers compare plain text.
#include "service/http_target.h"

#include <cstddef>

namespace workers {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// %XX escapes (and '+' as a space in query parts); false on a malformed escape.
bool percent_decode(std::string_view in, bool plus_is_space, std::string& out) {
  out.clear();
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      int hi = hex_value(in[i + 1]);
      int lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return true;
}

}  // namespace

HttpTarget parse_http_target(std::string_view target) {
  HttpTarget parsed;
  std::size_t question = target.find('?');
  if (!percent_decode(target.substr(0, question), false, parsed.path)) {
    throw Error(ErrorCode::kInvalidRequest, "target: invalid percent-escape in the path", "target");
  }
  if (question == std::string_view::npos) return parsed;
  std::string_view query = target.substr(question + 1);
  std::size_t hash = query.find('#');
  if (hash != std::string_view::npos) query = query.substr(0, hash);
  while (!query.empty()) {
    std::size_t amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (part.empty()) continue;
    std::size_t eq = part.find('=');
    std::string key;
    std::string value;
    if (!percent_decode(part.substr(0, eq), true, key) ||
        (eq != std::string_view::npos && !percent_decode(part.substr(eq + 1), true, value))) {
      throw Error(ErrorCode::kInvalidRequest, "target: invalid percent-escape in the query",
                  "target");
    }
    parsed.query[key] = value;
  }
  return parsed;
}

}  // namespace workers
