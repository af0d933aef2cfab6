// SafetyCheckerManager: the role that holds the configured safety checker (diffusers'
// StableDiffusionSafetyChecker) and answers, per image, whether it is flagged. Torch-free.
#pragma once

#include <vector>

#include <nlohmann/json.hpp>

#include "utilities/image.h"

namespace workers {

class SafetyCheckerManager {
 public:
  virtual ~SafetyCheckerManager() = default;
  // Whether a checker model is configured (a job asking for a check without one is refused).
  virtual bool configured() const = 0;
  // has_nsfw per image (diffusers' nsfw_content_detected). Loads the checker on first use
  // (compute thread); throws Error(MODEL_LOAD_ERROR).
  virtual std::vector<bool> check(const std::vector<Image>& images) = 0;
  // {"model": path or "", "mode": default mode, "loaded": bool}.
  virtual nlohmann::json status() const = 0;
};

}  // namespace workers
