#include "postprocessing/managers/torch_safety_checker_manager.h"

#include <filesystem>

#include "postprocessing/workers/safety_checker.h"
#include "utilities/error.h"

namespace workers {

TorchSafetyCheckerManager::TorchSafetyCheckerManager(std::string model, std::string default_mode, std::string device,
                                                     std::string dtype)
    : model_(std::move(model)), default_mode_(std::move(default_mode)), device_(std::move(device)),
      dtype_(std::move(dtype)) {
  std::error_code ec;
  if (!model_.empty() && !std::filesystem::is_directory(model_, ec)) {
    throw Error(ErrorCode::kConfigError, "safety checker model \"" + model_ + "\" is not a folder",
                "workers.instructors.postprocessing.safety_checker.model");
  }
}

TorchSafetyCheckerManager::~TorchSafetyCheckerManager() = default;

std::vector<bool> TorchSafetyCheckerManager::check(const std::vector<Image>& images) {
  if (model_.empty()) {
    throw Error(ErrorCode::kInvalidRequest, "no safety checker model is configured", "postprocess.safety_checker");
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (!checker_) checker_ = std::make_unique<SafetyChecker>(model_, device_, dtype_);
  std::vector<bool> flagged;
  for (const auto& verdict : checker_->check(images)) flagged.push_back(verdict.has_nsfw);
  return flagged;
}

nlohmann::json TorchSafetyCheckerManager::status() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return {{"model", model_}, {"mode", default_mode_}, {"loaded", checker_ != nullptr}};
}

}  // namespace workers
