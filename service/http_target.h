// HTTP request targets ("/jobs/a%20b?wait=true&x") split into the percent-decoded path and query
// parameters. Torch- and socket-free, so the server's parsing can be unit-tested and fuzzed alone.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "utilities/error.h"

namespace workers {

struct HttpTarget {
  std::string path;                          // "/jobs/a b": %XX decoded, '+' kept as '+'
  std::map<std::string, std::string> query;  // "?wait=true&x" -> {wait: true, x: ""}
};

// Splits `target` at the first '?'. The path is percent-decoded (%00 gives a NUL byte: callers
// compare it, never pass it to C strings). The query (up to a '#') splits at '&'; empty parts are
// skipped, a part without '=' has the value "", '+' is a space, and a repeated key keeps its last
// value. Throws Error(INVALID_REQUEST, field "target") for a malformed %-escape, which the server
// answers 400.
HttpTarget parse_http_target(std::string_view target);

}  // namespace workers
