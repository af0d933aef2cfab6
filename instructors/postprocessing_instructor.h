// PostprocessingInstructor: owns where outputs go (the output root, checked at start-up) and which
// postprocessing stages a job runs; its PostprocessingManager runs them (encode, thumbnail, ...).
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "postprocessing/managers/postprocessing_manager.h"
#include "utilities/config.h"
#include "utilities/generation_request.h"
#include "utilities/generation_result.h"

namespace workers {

class PostprocessingInstructor {
 public:
  PostprocessingInstructor(std::shared_ptr<PostprocessingManager> manager,
                           PostprocessingConfig config);

  // Checks the output root is usable (a folder, or absent: it is created on first write);
  // throws Error(CONFIG_ERROR) otherwise.
  void initialize();
  // {"output_root", "formats", "stages"}: the manager's status.
  nlohmann::json status() const;
  // The stages this job runs, in order: decided when the job is planned (JobPlan::stages), so
  // nothing later decides them again: the configured stages that apply to it, each having checked
  // the job's options. A postprocess part the job asks for that no configured stage does is
  // refused (Error(INVALID_REQUEST) naming it), not silently skipped.
  std::vector<std::string> stages(const GenerationRequest& request) const;
  // Runs `stages` over the result (images -> data.assets) and drops the pixels. Runs on the
  // compute thread; throws workers::Error.
  void finish(const std::vector<std::string>& stages, const GenerationRequest& request,
              GenerationResult& result) const;

 private:
  std::shared_ptr<PostprocessingManager> manager_;
  PostprocessingConfig config_;
};

}  // namespace workers
