#include "utilities/json_fields.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace workers {

FieldReader::FieldReader(const nlohmann::json& object, std::string path, ErrorCode code)
    : object_(object), path_(std::move(path)), code_(code) {
  if (!object_.is_object()) {
    throw Error(code_, (path_.empty() ? "message" : path_) + " must be a JSON object, got " +
                           json_type_name(object_), path_);
  }
}

std::string FieldReader::field(const std::string& key) const {
  return path_.empty() ? key : path_ + "." + key;
}

void FieldReader::fail(const std::string& key, const std::string& message) const {
  throw Error(code_, field(key) + ": " + message, field(key));
}

bool FieldReader::has(const std::string& key) const {
  auto it = object_.find(key);
  return it != object_.end() && !it->is_null();
}

const nlohmann::json* FieldReader::find(const std::string& key) {
  if (std::find(read_.begin(), read_.end(), key) == read_.end()) read_.push_back(key);
  auto it = object_.find(key);
  if (it == object_.end() || it->is_null()) return nullptr;
  return &*it;
}

const nlohmann::json* FieldReader::raw(const std::string& key) { return find(key); }

const nlohmann::json* FieldReader::object(const std::string& key) {
  const auto* value = find(key);
  if (value && !value->is_object()) fail(key, "must be an object, got " + json_type_name(*value));
  return value;
}

std::optional<std::string> FieldReader::string(const std::string& key) {
  const auto* value = find(key);
  if (!value) return std::nullopt;
  if (!value->is_string()) fail(key, "must be a string, got " + json_type_name(*value));
  return value->get<std::string>();
}

std::optional<double> FieldReader::number(const std::string& key) {
  const auto* value = find(key);
  if (!value) return std::nullopt;
  if (!value->is_number()) fail(key, "must be a number, got " + json_type_name(*value));
  double result = value->get<double>();
  if (!std::isfinite(result)) fail(key, "must be finite");
  return result;
}

std::optional<std::int64_t> FieldReader::integer(const std::string& key) {
  const auto* value = find(key);
  if (!value) return std::nullopt;
  if (value->is_number_unsigned()) {
    auto u = value->get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      fail(key, "is out of range");
    }
    return static_cast<std::int64_t>(u);
  }
  if (value->is_number_integer()) return value->get<std::int64_t>();
  if (value->is_number_float()) {
    double d = value->get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e15) {
      return static_cast<std::int64_t>(d);
    }
    fail(key, "must be an integer, got " + value->dump());
  }
  fail(key, "must be an integer, got " + json_type_name(*value));
}

std::optional<std::uint64_t> FieldReader::unsigned_integer(const std::string& key) {
  const auto* value = find(key);
  if (!value) return std::nullopt;
  if (value->is_number_unsigned()) return value->get<std::uint64_t>();
  auto signed_value = integer(key);
  if (*signed_value < 0) fail(key, "must not be negative, got " + std::to_string(*signed_value));
  return static_cast<std::uint64_t>(*signed_value);
}

std::optional<bool> FieldReader::boolean(const std::string& key) {
  const auto* value = find(key);
  if (!value) return std::nullopt;
  if (!value->is_boolean()) fail(key, "must be true or false, got " + json_type_name(*value));
  return value->get<bool>();
}

std::optional<std::vector<std::string>> FieldReader::string_list(const std::string& key) {
  const auto* value = find(key);
  if (!value) return std::nullopt;
  if (value->is_string()) return std::vector<std::string>{value->get<std::string>()};
  if (!value->is_array()) fail(key, "must be a string or a list of strings");
  std::vector<std::string> out;
  for (std::size_t i = 0; i < value->size(); ++i) {
    if (!(*value)[i].is_string()) {
      throw Error(code_, field(key) + "[" + std::to_string(i) + "]: must be a string",
                  field(key) + "[" + std::to_string(i) + "]");
    }
    out.push_back((*value)[i].get<std::string>());
  }
  return out;
}

std::vector<std::string> FieldReader::unread() const {
  std::vector<std::string> out;
  for (auto it = object_.begin(); it != object_.end(); ++it) {
    if (std::find(read_.begin(), read_.end(), it.key()) == read_.end()) out.push_back(field(it.key()));
  }
  return out;
}

std::string json_type_name(const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::null: return "null";
    case nlohmann::json::value_t::object: return "an object";
    case nlohmann::json::value_t::array: return "a list";
    case nlohmann::json::value_t::string: return "a string";
    case nlohmann::json::value_t::boolean: return "a boolean";
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned:
    case nlohmann::json::value_t::number_float: return "a number";
    default: return "an unsupported value";
  }
}

}  // namespace workers
