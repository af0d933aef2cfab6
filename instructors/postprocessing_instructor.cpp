#include "instructors/postprocessing_instructor.h"

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

std::vector<std::string> PostprocessingInstructor::stages(const GenerationRequest&) const {
  return manager_->stages();
}

void PostprocessingInstructor::finish(const std::vector<std::string>& stages,
                                      const GenerationRequest& request,
                                      GenerationResult& result) const {
  manager_->run(stages, request, result);
}

}  // namespace workers
