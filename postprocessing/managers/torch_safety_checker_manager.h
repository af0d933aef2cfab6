// TorchSafetyCheckerManager: the production SafetyCheckerManager over the SafetyChecker worker,
// loaded from workers.instructors.postprocessing.safety_checker.model on first use.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "postprocessing/managers/safety_checker_manager.h"

namespace workers {

class SafetyChecker;

class TorchSafetyCheckerManager : public SafetyCheckerManager {
 public:
  // `model`: "" for none. A folder that does not exist is Error(CONFIG_ERROR) now, at start-up;
  // its files are read on the first check.
  TorchSafetyCheckerManager(std::string model, std::string default_mode, std::string device, std::string dtype);
  ~TorchSafetyCheckerManager() override;

  bool configured() const override { return !model_.empty(); }
  std::vector<bool> check(const std::vector<Image>& images) override;
  nlohmann::json status() const override;

 private:
  std::string model_, default_mode_, device_, dtype_;
  mutable std::mutex mutex_;  // loading, and one check at a time through the one model
  std::unique_ptr<SafetyChecker> checker_;
};

}  // namespace workers
