// ConditioningInstructor: the conditioning checks and choices made before a job is queued (clip
// skip index, ControlNet preprocessors), decided by its ConditioningManager.
#pragma once

#include <memory>

#include <nlohmann/json.hpp>

#include "conditioning/managers/conditioning_manager.h"
#include "utilities/generation_request.h"

namespace workers {

class ConditioningInstructor {
 public:
  // Throws std::invalid_argument when `manager` is null: the instructor has nothing to decide with.
  explicit ConditioningInstructor(std::shared_ptr<ConditioningManager> manager);

  // Throws Error(INVALID_REQUEST) naming the field. The job carries what it returns.
  ConditioningDecision check(const GenerationRequest& request) const;
  // A postprocess_request's image from the image roots (compute thread); errors name `field`.
  SourceImage source_image(const std::string& reference, const std::string& field) const {
    return manager_->source_image(reference, field);
  }
  nlohmann::json status() const;

 private:
  std::shared_ptr<ConditioningManager> manager_;
};

}  // namespace workers
