// PostprocessingManager: the role that runs a job's postprocessing stages, in order, over its
// result. StagedPostprocessingManager builds the configured stages from a StageRegistry once.
#pragma once

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "postprocessing/managers/postprocessing_stage.h"
#include "postprocessing/managers/stage_registry.h"
#include "utilities/config.h"

namespace workers {

class PostprocessingManager {
 public:
  virtual ~PostprocessingManager() = default;
  // The configured stage names, in the order they run.
  virtual std::vector<std::string> stages() const = 0;
  // The configured stages this job runs, in order (those that apply to it), after each one has
  // checked the job's options. On the loop, when the job is planned; throws the check's Error.
  virtual std::vector<std::string> plan(const GenerationRequest& request) const = 0;
  // Runs `stages` in order, then drops result.images: the response carries assets, not pixels.
  // Runs on a compute thread; throws workers::Error.
  virtual void run(const std::vector<std::string>& stages, const GenerationRequest& request,
                   GenerationResult& result) = 0;
  // Whether the configured stages turn images into data.assets (without one a job would answer
  // no images: the instructor refuses such a configuration at start-up).
  virtual bool writes_outputs() const = 0;
  // {"output_root": absolute path, "formats": [...], "stages": [...]}.
  virtual nlohmann::json status() const = 0;
};

class StagedPostprocessingManager : public PostprocessingManager {
 public:
  // Builds every stage of config.stages now, so a misconfigured list fails at start-up
  // (Error(CONFIG_ERROR, "workers.instructors.postprocessing.stages")), not on the first job: an
  // unknown name, or a stage listed before one it must follow (StageTraits::after).
  StagedPostprocessingManager(const StageRegistry& registry, const PostprocessingConfig& config);

  std::vector<std::string> stages() const override { return order_; }
  std::vector<std::string> plan(const GenerationRequest& request) const override;
  // A name not built here is Error(INTERNAL_ERROR): the plan and the config disagree.
  void run(const std::vector<std::string>& stages, const GenerationRequest& request,
           GenerationResult& result) override;
  bool writes_outputs() const override { return writes_outputs_; }
  nlohmann::json status() const override;

 private:
  bool writes_outputs_ = false;
  std::string output_root_;
  std::vector<std::string> order_;
  // Read-only after construction, so concurrent jobs may share it; each stage guards its own state.
  std::map<std::string, std::shared_ptr<PostprocessingStage>> built_;
};

}  // namespace workers
