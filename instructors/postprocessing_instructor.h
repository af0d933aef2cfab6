// PostprocessingInstructor: owns where outputs go (the output root, created and checked at
// start-up) and, with the postprocessing work, the encoders, thumbnails and safety checker.
#pragma once

#include <nlohmann/json.hpp>

#include "inference/managers/pipeline_manager.h"
#include "postprocessing/asset_writer.h"
#include "utilities/config.h"

namespace workers {

class PostprocessingInstructor {
 public:
  explicit PostprocessingInstructor(PostprocessingConfig config);

  // Checks the output root is usable (a folder, or absent: it is created on first write);
  // throws Error(CONFIG_ERROR) otherwise.
  void initialize();
  nlohmann::json status() const;
  // Encodes result.images (format, base64 and file name from the request) into
  // result.data["assets"] and drops the pixels. Runs on the compute thread.
  void finish(const GenerationRequest& request, GenerationResult& result) const;

 private:
  PostprocessingConfig config_;
  AssetWriter writer_;
};

}  // namespace workers
