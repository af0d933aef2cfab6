// PipelineManager: the role that turns one validated GenerationRequest into images, reporting
// progress and honouring cancellation through the JobContext. Runs on a compute thread.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "utilities/generation_request.h"
#include "utilities/image.h"
#include "utilities/job_context.h"

namespace workers {

struct GenerationResult {
  nlohmann::json data = nlohmann::json::object();  // the response's `data` (assets, seed, timings)
  std::vector<std::string> warnings;
  // Generated images and what they were made with; postprocessing turns them into data.assets.
  std::vector<Image> images;
  nlohmann::json metadata = nlohmann::json::object();
};

class PipelineManager {
 public:
  virtual ~PipelineManager() = default;
  // Throws workers::Error (CANCELLED / TIMEOUT_ERROR via the context, OOM_ERROR, MODEL_*).
  virtual GenerationResult generate(const GenerationRequest& request, const JobContext& context) = 0;
};

}  // namespace workers
