// SchedulerInstructor: resolves the scheduler a request names (or the configured default) through
// the SchedulerCatalog, so unknown names fail before a job is queued.
#pragma once

#include <memory>
#include <optional>

#include "schedulers/managers/scheduler_catalog.h"
#include "utilities/config.h"
#include "utilities/generation_request.h"

namespace workers {

class SchedulerInstructor {
 public:
  SchedulerInstructor(std::shared_ptr<const SchedulerCatalog> catalog, SchedulerConfig config);

  // nullopt: use the model's own scheduler_config.json. Throws Error(INVALID_REQUEST, "scheduler").
  std::optional<SchedulerChoice> resolve(const GenerationRequest& request) const;
  nlohmann::json status() const;

 private:
  std::shared_ptr<const SchedulerCatalog> catalog_;
  SchedulerConfig config_;
};

}  // namespace workers
