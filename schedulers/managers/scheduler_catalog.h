// SchedulerCatalog: the role that turns the scheduler name a user typed ("DPM++ 2M Karras",
// "euler_ancestral", "EulerDiscreteScheduler") into a diffusers scheduler class and config overrides.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace workers {

struct SchedulerChoice {
  std::string class_name;  // diffusers class, e.g. DPMSolverMultistepScheduler
  nlohmann::json overrides = nlohmann::json::object();  // merged over scheduler_config.json
};

class SchedulerCatalog {
 public:
  virtual ~SchedulerCatalog() = default;
  // Throws Error(INVALID_REQUEST, field "scheduler") listing the valid names.
  virtual SchedulerChoice resolve(const std::string& name) const = 0;
  virtual std::vector<std::string> names() const = 0;
};

}  // namespace workers
