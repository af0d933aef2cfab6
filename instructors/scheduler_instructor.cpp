#include "instructors/scheduler_instructor.h"

namespace workers {

SchedulerInstructor::SchedulerInstructor(std::shared_ptr<const SchedulerCatalog> catalog, SchedulerConfig config)
    : catalog_(std::move(catalog)), config_(std::move(config)) {}

SchedulerDecision SchedulerInstructor::resolve(const GenerationRequest& request) const {
  SchedulerDecision decision;
  decision.label = request.scheduler.empty() ? config_.default_scheduler : request.scheduler;
  if (!decision.label.empty()) decision.choice = catalog_->resolve(decision.label);
  return decision;
}

nlohmann::json SchedulerInstructor::status() const {
  return {{"default", config_.default_scheduler}, {"names", catalog_->names()}};
}

}  // namespace workers
