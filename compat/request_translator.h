// RequestTranslator: the role of one legacy wire format. It recognises a message in that format
// and rewrites it into the canonical protocol message, once, so nothing downstream knows it existed.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace workers::compat {

struct TranslatedMessage {
  nlohmann::json message;  // canonical: request_id, message_type and canonical fields
  // canonical field path -> the field's name in the original message, so validation errors name
  // what the sender actually wrote (e.g. "steps" -> "Scheduler.Steps").
  std::map<std::string, std::string> field_origin;
  std::vector<std::string> warnings;
};

class RequestTranslator {
 public:
  virtual ~RequestTranslator() = default;
  virtual std::string_view format() const = 0;
  virtual bool recognizes(const nlohmann::json& message) const = 0;
  // Throws Error(INVALID_REQUEST) naming the original field when the message cannot be mapped.
  virtual TranslatedMessage translate(const nlohmann::json& message) const = 0;
};

// The registry: every known legacy format, most specific first. Adding a format = one file in
// compat/ + one line here.
std::vector<std::shared_ptr<const RequestTranslator>> default_translators();

}  // namespace workers::compat
