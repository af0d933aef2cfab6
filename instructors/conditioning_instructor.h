// ConditioningInstructor: prompt-side checks and choices made before a job is queued (clip skip
// convention); tokenizer and text-encoder managers join it with the conditioning work.
#pragma once

#include <nlohmann/json.hpp>

#include "utilities/generation_request.h"

namespace workers {

class ConditioningInstructor {
 public:
  // Throws Error(INVALID_REQUEST) naming the field. Returns the CLIP hidden-state index to use.
  int check(const GenerationRequest& request) const;
  nlohmann::json status() const;
};

}  // namespace workers
