// Typed reads of JSON fields with errors that name the field, shared by the request parser,
// the config loader and the compat translators so every message is phrased the same way.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "utilities/error.h"

namespace workers {

// Reads fields of one JSON object; `path` prefixes field names in errors ("" for the root).
// Every field read is remembered so unread (unknown) fields can be reported.
class FieldReader {
 public:
  FieldReader(const nlohmann::json& object, std::string path, ErrorCode code = ErrorCode::kInvalidRequest);

  bool has(const std::string& key) const;
  std::optional<std::string> string(const std::string& key);
  std::optional<double> number(const std::string& key);
  std::optional<std::int64_t> integer(const std::string& key);
  std::optional<std::uint64_t> unsigned_integer(const std::string& key);
  std::optional<bool> boolean(const std::string& key);
  std::optional<std::vector<std::string>> string_list(const std::string& key);
  // The raw value (any type), marked as read.
  const nlohmann::json* raw(const std::string& key);
  // An object-valued field: throws when present but not an object.
  const nlohmann::json* object(const std::string& key);

  std::string field(const std::string& key) const;  // "path.key"
  [[noreturn]] void fail(const std::string& key, const std::string& message) const;
  // Names of fields that were present but never read.
  std::vector<std::string> unread() const;

 private:
  const nlohmann::json* find(const std::string& key);

  const nlohmann::json& object_;
  std::string path_;
  ErrorCode code_;
  std::vector<std::string> read_;
};

std::string json_type_name(const nlohmann::json& value);

}  // namespace workers
