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
  struct Part {
    bool wanted;
    const char* stage;
    const char* field;
  };
  const Part asked[] = {{p.upscale.has_value(), "upscale", "postprocess.upscale"},
                        {!p.enhance.is_null(), "enhance", "postprocess.enhance"},
                        {!p.safety_checker.empty() && p.safety_checker != "off", "safety_check",
                         "postprocess.safety_checker"}};
  for (const auto& part : asked) {
    if (part.wanted && std::find(planned.begin(), planned.end(), part.stage) == planned.end()) {
      throw_invalid(part.field, std::string("the \"") + part.stage + "\" stage is not configured on this worker "
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
