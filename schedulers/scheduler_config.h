// SchedulerConfig: a scheduler_config.json (merged with request overrides) read with typed,
// validated getters. Unknown keys are ignored, as diffusers ignores them; a bad value is an
// Error(INVALID_REQUEST) naming the key. Each scheduler supplies its own defaults.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace workers {

class SchedulerConfig {
 public:
  explicit SchedulerConfig(nlohmann::json config = nlohmann::json::object(), std::string where = "scheduler_config");

  bool has(const std::string& key) const;
  double number(const std::string& key, double fallback) const;
  std::int64_t integer(const std::string& key, std::int64_t fallback, std::int64_t min, std::int64_t max) const;
  bool flag(const std::string& key, bool fallback) const;
  std::string choice(const std::string& key, const std::string& fallback, const std::vector<std::string>& allowed) const;
  std::vector<double> numbers(const std::string& key) const;  // empty when absent
  const nlohmann::json& json() const { return config_; }
  [[noreturn]] void fail(const std::string& key, const std::string& message) const;

 private:
  const nlohmann::json* find(const std::string& key) const;
  nlohmann::json config_;
  std::string where_;
};

}  // namespace workers
