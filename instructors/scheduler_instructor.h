// SchedulerInstructor: owns the SchedulerCatalog; decides a job's scheduler: the name a request
// gives (or the configured default) resolved once, so unknown names fail before a job is queued and
// the pipeline builds exactly this choice.
#pragma once

#include <memory>
#include <optional>

#include "inference/managers/job_plan.h"
#include "schedulers/managers/scheduler_catalog.h"
#include "utilities/config.h"
#include "utilities/generation_request.h"

namespace workers {

class SchedulerInstructor {
 public:
  SchedulerInstructor(std::shared_ptr<const SchedulerCatalog> catalog, SchedulerConfig config);

  // No choice: the model's own scheduler_config.json. Throws Error(INVALID_REQUEST, "scheduler").
  SchedulerDecision resolve(const GenerationRequest& request) const;
  nlohmann::json status() const;

 private:
  std::shared_ptr<const SchedulerCatalog> catalog_;
  SchedulerConfig config_;
};

}  // namespace workers
