#include "communication/json_guard.h"

#include <cstring>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "utilities/error.h"

namespace workers {
namespace {

using json = nlohmann::json;

[[noreturn]] void too_deep(int max_depth) {
  throw Error(ErrorCode::kInvalidRequest,
              "line is nested deeper than " + std::to_string(max_depth) + " levels (the limit for a message)");
}

bool is_id_key(const std::string& key) { return key == "request_id" || key == "target_request_id"; }

// Counts nesting and remembers the text of over-wide integer ids; stops at the first level too
// deep. Syntax errors end the pass quietly: the DOM parse that follows reports them with
// nlohmann's position-aware message.
class DepthCheck : public nlohmann::json_sax<json> {
 public:
  explicit DepthCheck(int max_depth) : max_(max_depth) {}

  bool null() override { return scalar(); }
  bool boolean(bool) override { return scalar(); }
  bool number_integer(number_integer_t v) override { return id(std::to_string(v)); }
  bool number_unsigned(number_unsigned_t v) override { return id(std::to_string(v)); }
  bool number_float(number_float_t, const string_t& text) override {
    if (depth_ == 1 && is_id_key(key_) && text.find_first_not_of("-0123456789") == std::string::npos) {
      wide_ids_[key_] = text;
      return id(text);
    }
    return scalar();
  }
  bool string(string_t& text) override { return id(text); }
  bool binary(binary_t&) override { return scalar(); }
  bool start_object(std::size_t) override { return open(); }
  bool key(string_t& key) override {
    if (depth_ == 1) key_ = key;
    return true;
  }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override { return open(); }
  bool end_array() override { return close(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }

  bool exceeded() const { return exceeded_; }
  const std::string& request_id() const { return request_id_; }
  const std::map<std::string, std::string>& wide_ids() const { return wide_ids_; }

 private:
  bool scalar() {
    if (depth_ == 1) key_.clear();
    return true;
  }
  // A top-level request_id seen before the pass stopped, so even a refused line is answered
  // under its id.
  bool id(const std::string& text) {
    if (depth_ == 1 && key_ == "request_id") request_id_ = text;
    return scalar();
  }
  bool open() {
    if (++depth_ > max_) {
      exceeded_ = true;
      return false;
    }
    return true;
  }
  bool close() {
    --depth_;
    return scalar();
  }

  int max_;
  int depth_ = 0;
  bool exceeded_ = false;
  std::string key_;
  std::string request_id_;
  std::map<std::string, std::string> wide_ids_;
};

}  // namespace

json parse_protocol_line(std::string_view line, int max_depth, std::string* request_id) {
  if (const void* nul = std::memchr(line.data(), '\0', line.size())) {
    const auto offset = static_cast<const char*>(nul) - line.data();
    throw Error(ErrorCode::kInvalidRequest,
                "line is not valid JSON: a NUL byte at offset " + std::to_string(offset));
  }
  DepthCheck check(max_depth);
  json::sax_parse(line.begin(), line.end(), &check);
  if (request_id) *request_id = check.request_id();
  if (check.exceeded()) too_deep(max_depth);
  json value;
  try {
    value = json::parse(line.begin(), line.end());
  } catch (const json::exception& e) {  // parse_error, and out_of_range for huge numbers
    throw Error(ErrorCode::kInvalidRequest, std::string("line is not valid JSON: ") + e.what());
  }
  for (const auto& [key, digits] : check.wide_ids()) {
    if (value.is_object() && value.contains(key) && value[key].is_number_float()) value[key] = digits;
  }
  return value;
}

void check_json_depth(const json& value, int max_depth) {
  std::vector<std::pair<const json*, int>> pending{{&value, 1}};
  while (!pending.empty()) {
    auto [node, depth] = pending.back();
    pending.pop_back();
    if (!node->is_structured()) continue;
    if (depth > max_depth) too_deep(max_depth);
    for (const auto& child : *node) pending.emplace_back(&child, depth + 1);
  }
}

}  // namespace workers
