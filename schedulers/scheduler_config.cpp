#include "schedulers/scheduler_config.h"

#include <cmath>

#include "utilities/error.h"
#include "utilities/json_fields.h"

namespace workers {

SchedulerConfig::SchedulerConfig(nlohmann::json config, std::string where)
    : config_(std::move(config)), where_(std::move(where)) {
  if (!config_.is_object()) {
    throw Error(ErrorCode::kInvalidRequest, where_ + " must be a JSON object, got " + json_type_name(config_), where_);
  }
}

void SchedulerConfig::fail(const std::string& key, const std::string& message) const {
  throw Error(ErrorCode::kInvalidRequest, where_ + "." + key + ": " + message, where_ + "." + key);
}

const nlohmann::json* SchedulerConfig::find(const std::string& key) const {
  auto it = config_.find(key);
  return it == config_.end() || it->is_null() ? nullptr : &*it;
}

bool SchedulerConfig::has(const std::string& key) const { return find(key) != nullptr; }

double SchedulerConfig::number(const std::string& key, double fallback) const {
  const auto* v = find(key);
  if (!v) return fallback;
  if (!v->is_number() || !std::isfinite(v->get<double>())) fail(key, "must be a finite number, got " + v->dump());
  return v->get<double>();
}

std::int64_t SchedulerConfig::integer(const std::string& key, std::int64_t fallback, std::int64_t min,
                                      std::int64_t max) const {
  const auto* v = find(key);
  if (!v) return fallback;
  if (!v->is_number_integer()) fail(key, "must be an integer, got " + v->dump());
  const auto value = v->get<std::int64_t>();
  if (value < min || value > max) {
    fail(key, "must be in [" + std::to_string(min) + ", " + std::to_string(max) + "], got " + std::to_string(value));
  }
  return value;
}

bool SchedulerConfig::flag(const std::string& key, bool fallback) const {
  const auto* v = find(key);
  if (!v) return fallback;
  if (!v->is_boolean()) fail(key, "must be true or false, got " + v->dump());
  return v->get<bool>();
}

std::string SchedulerConfig::choice(const std::string& key, const std::string& fallback,
                                    const std::vector<std::string>& allowed) const {
  const auto* v = find(key);
  if (!v) return fallback;
  if (!v->is_string()) fail(key, "must be a string, got " + v->dump());
  const auto value = v->get<std::string>();
  for (const auto& a : allowed) {
    if (a == value) return value;
  }
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
  fail(key, "\"" + value + "\" is not supported (supported: " + list + ")");
}

std::vector<double> SchedulerConfig::numbers(const std::string& key) const {
  const auto* v = find(key);
  if (!v) return {};
  if (!v->is_array()) fail(key, "must be a list of numbers");
  std::vector<double> out;
  for (const auto& item : *v) {
    if (!item.is_number()) fail(key, "must be a list of numbers, got " + item.dump());
    out.push_back(item.get<double>());
  }
  return out;
}

}  // namespace workers
