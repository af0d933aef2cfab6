#include "instructors/postprocessing_instructor.h"

#include <filesystem>

#include "utilities/error.h"

namespace workers {

PostprocessingInstructor::PostprocessingInstructor(PostprocessingConfig config)
    : config_(std::move(config)), writer_(config_.output_root) {}

void PostprocessingInstructor::finish(const GenerationRequest& request, GenerationResult& result) const {
  AssetOptions options;
  options.name = request.request_id;
  options.format = request.output_format;
  options.return_base64 = request.return_base64;
  result.data["assets"] = writer_.write(result.images, result.metadata, options);
  result.images.clear();
}

void PostprocessingInstructor::initialize() {
  std::error_code ec;
  if (std::filesystem::exists(config_.output_root, ec) && !std::filesystem::is_directory(config_.output_root, ec)) {
    throw Error(ErrorCode::kConfigError, "output_root \"" + config_.output_root + "\" exists and is not a folder",
                "workers.instructors.postprocessing.output_root");
  }
}

nlohmann::json PostprocessingInstructor::status() const {
  return {{"output_root", std::filesystem::absolute(config_.output_root).string()},
          {"formats", {"png", "jpeg", "webp"}}};
}

}  // namespace workers
