#include "postprocessing/managers/postprocessing_manager.h"

#include <algorithm>
#include <filesystem>

#include "utilities/error.h"

namespace workers {

StagedPostprocessingManager::StagedPostprocessingManager(const StageRegistry& registry,
                                                         const PostprocessingConfig& config)
    : output_root_(config.output_root), order_(config.stages) {
  for (std::size_t i = 0; i < order_.size(); ++i) {
    const auto& name = order_[i];
    if (!built_.count(name)) built_[name] = registry.make(name, config);
    const auto traits = registry.traits(name);
    writes_outputs_ = writes_outputs_ || traits.writes_outputs;
    const auto end = order_.begin() + static_cast<std::ptrdiff_t>(i);
    for (const auto& before : traits.after) {
      if (std::find(order_.begin(), end, before) == end) {
        throw Error(ErrorCode::kConfigError, "stage \"" + name + "\" works on what \"" + before +
                                                 "\" makes: list \"" + before + "\" before it",
                    "workers.instructors.postprocessing.stages");
      }
    }
    for (const auto& later : traits.before) {
      if (std::find(order_.begin(), end, later) != end) {
        throw Error(ErrorCode::kConfigError, "stage \"" + name + "\" changes the images that \"" + later +
                                                 "\" uses: list \"" + name + "\" before it",
                    "workers.instructors.postprocessing.stages");
      }
    }
  }
}

std::vector<std::string> StagedPostprocessingManager::plan(const GenerationRequest& request) const {
  std::vector<std::string> planned;
  for (const auto& name : order_) {
    const auto& stage = *built_.at(name);
    if (!stage.applies(request)) continue;
    stage.check(request);
    planned.push_back(name);
  }
  return planned;
}

void StagedPostprocessingManager::run(const std::vector<std::string>& stages,
                                      const GenerationRequest& request, GenerationResult& result) {
  // Resolve every name first: a job must not write files and then fail on a later unknown stage.
  std::vector<PostprocessingStage*> plan;
  for (const auto& name : stages) {
    const auto it = built_.find(name);
    if (it == built_.end()) {
      throw Error(ErrorCode::kInternalError, "postprocessing stage " + name + " is not configured");
    }
    plan.push_back(it->second.get());
  }
  for (auto* stage : plan) stage->run(request, result);
  result.images.clear();
}

nlohmann::json StagedPostprocessingManager::status() const {
  return {{"output_root", std::filesystem::absolute(output_root_).string()},
          {"formats", {"png", "jpeg", "webp"}},
          {"stages", order_}};
}

}  // namespace workers
