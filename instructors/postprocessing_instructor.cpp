#include "instructors/postprocessing_instructor.h"

#include <algorithm>
#include <filesystem>

#include "utilities/error.h"

namespace workers {

PostprocessingInstructor::PostprocessingInstructor(std::shared_ptr<PostprocessingManager> manager,
                                                   PostprocessingConfig config)
    : manager_(std::move(manager)), config_(std::move(config)) {}

void PostprocessingInstructor::initialize() {
  if (!manager_->writes_outputs()) {
    throw Error(ErrorCode::kConfigError,
                "no configured stage writes the images (list \"encode\"); every job would answer without them",
                "workers.instructors.postprocessing.stages");
  }
  std::error_code ec;
  if (std::filesystem::exists(config_.output_root, ec) &&
      !std::filesystem::is_directory(config_.output_root, ec)) {
    throw Error(ErrorCode::kConfigError,
                "output_root \"" + config_.output_root + "\" exists and is not a folder",
                "workers.instructors.postprocessing.output_root");
  }
}

nlohmann::json PostprocessingInstructor::status() const { return manager_->status(); }

std::vector<std::string> PostprocessingInstructor::stages(const GenerationRequest& request) const {
  auto planned = manager_->plan(request);
  const auto& p = request.postprocess;
  const std::pair<bool, const char*> asked[] = {{p.upscale.has_value(), "upscale"},
                                                {!p.enhance.is_null(), "enhance"},
                                                {!p.safety_checker.empty() && p.safety_checker != "off", "safety_check"}};
  for (const auto& [wanted, stage] : asked) {
    if (wanted && std::find(planned.begin(), planned.end(), stage) == planned.end()) {
      const std::string field = std::string("postprocess.") + (std::string(stage) == "safety_check" ? "safety_checker" : stage);
      throw_invalid(field, std::string("the \"") + stage + "\" stage is not configured on this worker "
                           "(workers.instructors.postprocessing.stages)");
    }
  }
  return planned;
}

void PostprocessingInstructor::finish(const std::vector<std::string>& stages,
                                      const GenerationRequest& request,
                                      GenerationResult& result) const {
  manager_->run(stages, request, result);
}

}  // namespace workers
