// SchedulerFactory: builds a Scheduler worker by diffusers class name from a scheduler config
// (a model's scheduler_config.json merged with overrides), or by a name users type
// ("DPM++ 2M Karras", "euler_ancestral", ...) through the SchedulerCatalog.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "schedulers/managers/scheduler_catalog.h"
#include "schedulers/scheduler.h"

namespace workers {

struct BuiltScheduler {
  std::unique_ptr<Scheduler> scheduler;
  std::string class_name;
  nlohmann::json config;  // the effective config it was built from
};

class SchedulerFactory {
 public:
  explicit SchedulerFactory(std::shared_ptr<const SchedulerCatalog> catalog = nullptr);

  // Throws Error(INVALID_REQUEST): unknown class (field "scheduler", listing the classes) or a
  // bad config value (field "scheduler_config.<key>").
  std::unique_ptr<Scheduler> create(const std::string& class_name,
                                    const nlohmann::json& config = nlohmann::json::object()) const;
  // The one path from a decided scheduler to an object: the model's scheduler_config.json <
  // the choice's overrides < `options` (the request's scheduler_options). No choice: the model's
  // own scheduler class. Throws as create().
  BuiltScheduler build(const std::optional<SchedulerChoice>& choice, const nlohmann::json& model_config,
                       const nlohmann::json& options = nlohmann::json::object()) const;
  // `name` resolved by the catalog, then build().
  std::unique_ptr<Scheduler> create_named(const std::string& name,
                                          const nlohmann::json& model_config = nlohmann::json::object()) const;
  static std::vector<std::string> class_names();

 private:
  std::shared_ptr<const SchedulerCatalog> catalog_;
};

}  // namespace workers
