#include "compat/canonical_builder.h"

#include <algorithm>
#include <cctype>

namespace workers::compat {

CanonicalBuilder::CanonicalBuilder(std::string message_type) {
  result_.message = nlohmann::json::object();
  result_.message["message_type"] = std::move(message_type);
}

void CanonicalBuilder::set(const std::string& key, nlohmann::json value, const std::string& origin) {
  result_.message[key] = std::move(value);
  result_.field_origin[key] = origin;
}

void CanonicalBuilder::set_path(const std::string& pointer, nlohmann::json value, const std::string& origin) {
  result_.message[nlohmann::json::json_pointer(pointer)] = std::move(value);
  std::string dotted = pointer.substr(1);
  std::replace(dotted.begin(), dotted.end(), '/', '.');
  result_.field_origin[dotted] = origin;
}

bool CanonicalBuilder::has(const std::string& canonical) const {
  return result_.message.contains(canonical);
}

const nlohmann::json* find_key(const nlohmann::json& object, const std::string& key, std::string* spelled) {
  if (!object.is_object()) return nullptr;
  auto exact = object.find(key);
  if (exact != object.end()) {
    if (spelled) *spelled = key;
    return exact->is_null() ? nullptr : &*exact;
  }
  auto lower = [](std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
  };
  const std::string wanted = lower(key);
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (lower(it.key()) == wanted) {
      if (spelled) *spelled = it.key();
      return it->is_null() ? nullptr : &*it;
    }
  }
  return nullptr;
}

}  // namespace workers::compat
