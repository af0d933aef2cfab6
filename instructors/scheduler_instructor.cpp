#include "instructors/scheduler_instructor.h"

namespace workers {

SchedulerInstructor::SchedulerInstructor(std::shared_ptr<const SchedulerCatalog> catalog, SchedulerConfig config)
    : catalog_(std::move(catalog)), config_(std::move(config)) {}

std::optional<SchedulerChoice> SchedulerInstructor::resolve(const GenerationRequest& request) const {
  const std::string& name = request.scheduler.empty() ? config_.default_scheduler : request.scheduler;
  if (name.empty()) return std::nullopt;
  return catalog_->resolve(name);
}

nlohmann::json SchedulerInstructor::status() const {
  return {{"default", config_.default_scheduler}, {"names", catalog_->names()}};
}

}  // namespace workers
