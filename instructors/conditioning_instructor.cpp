#include "instructors/conditioning_instructor.h"

#include <stdexcept>
#include <utility>

namespace workers {

ConditioningInstructor::ConditioningInstructor(std::shared_ptr<ConditioningManager> manager)
    : manager_(std::move(manager)) {
  if (!manager_) throw std::invalid_argument("ConditioningInstructor needs a ConditioningManager");
}

ConditioningDecision ConditioningInstructor::check(const GenerationRequest& request) const {
  return manager_->decide(request);
}

nlohmann::json ConditioningInstructor::status() const { return manager_->status(); }

}  // namespace workers
