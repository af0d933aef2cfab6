// Guards on untrusted JSON before anything walks it recursively: nlohmann's copy and comparison
// recurse once per nesting level, so one deep line could overflow the I/O thread's stack. Lines
// are parsed only after a SAX pass has checked their depth and bytes.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace workers {

// No protocol message needs more: a request is an object holding arrays of objects.
inline constexpr int kMaxJsonDepth = 64;

// Parses one protocol line. Throws Error(INVALID_REQUEST) for a NUL byte (which nlohmann would
// take as the end of the text, silently dropping the rest), for nesting deeper than `max_depth`
// (naming the limit) and for malformed JSON. Top-level `request_id` / `target_request_id`
// integers too large for 64 bits come back as strings of their digits, so they stay exact.
// `request_id` receives a top-level request_id read before any failure ("" if none was).
nlohmann::json parse_protocol_line(std::string_view line, int max_depth = kMaxJsonDepth,
                                   std::string* request_id = nullptr);

// The same depth rule for a value a host built itself, checked without recursion.
void check_json_depth(const nlohmann::json& value, int max_depth = kMaxJsonDepth);

}  // namespace workers
