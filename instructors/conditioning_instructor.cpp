#include "instructors/conditioning_instructor.h"

#include "conditioning/clip_skip.h"

namespace workers {

int ConditioningInstructor::check(const GenerationRequest& request) const {
  return clip_hidden_state_index(request.clip_skip, request.clip_skip_style);
}

nlohmann::json ConditioningInstructor::status() const {
  return {{"clip_skip_styles", {"diffusers", "a1111"}}};
}

}  // namespace workers
