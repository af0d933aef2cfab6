// CanonicalBuilder: writes canonical fields while recording where each came from in the legacy
// message. Internal to compat/.
#pragma once

#include <string>

#include "compat/request_translator.h"

namespace workers::compat {

class CanonicalBuilder {
 public:
  explicit CanonicalBuilder(std::string message_type);

  // Sets the top-level field named `key`, literally (a key from the sender is never a path).
  void set(const std::string& key, nlohmann::json value, const std::string& origin);
  // Sets a nested canonical field by one of the translators' own constant paths ("/model/base").
  void set_path(const std::string& pointer, nlohmann::json value, const std::string& origin);
  void warn(std::string warning) { result_.warnings.push_back(std::move(warning)); }
  bool has(const std::string& canonical) const;
  TranslatedMessage take() { return std::move(result_); }

 private:
  TranslatedMessage result_;
};

// Case-insensitive lookup of a key in an object (C# serialisers differ in casing); `spelled`
// receives the key as the sender wrote it.
const nlohmann::json* find_key(const nlohmann::json& object, const std::string& key,
                               std::string* spelled = nullptr);

}  // namespace workers::compat
