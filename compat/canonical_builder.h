// CanonicalBuilder: writes canonical fields while recording where each came from in the legacy
// message. Internal to compat/.
#pragma once

#include <string>

#include "compat/request_translator.h"

namespace workers::compat {

class CanonicalBuilder {
 public:
  explicit CanonicalBuilder(std::string message_type);

  // Sets a top-level canonical field (or a nested one with a JSON pointer such as "/model/base").
  void set(const std::string& canonical, nlohmann::json value, const std::string& origin);
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
