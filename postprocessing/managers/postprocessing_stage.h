// PostprocessingStage: the role of one step that turns a finished generation into its response
// (encode the images into assets, add thumbnails, ...); the manager runs the configured ones in
// order.
#pragma once

#include <string>

#include "utilities/generation_request.h"
#include "utilities/generation_result.h"

namespace workers {

class PostprocessingStage {
 public:
  virtual ~PostprocessingStage() = default;
  // The name the config and the registry know it by ("encode", "thumbnail").
  virtual std::string name() const = 0;
  // Whether this job asks for the stage (an upscale stage runs only for a job with
  // postprocess.upscale). Encode and thumbnail run for every job.
  virtual bool applies(const GenerationRequest&) const { return true; }
  // Checks the job's options for this stage when the job is planned, on the loop, before it is
  // queued (cheap: no model is loaded). Throws Error(INVALID_REQUEST, field) naming the field.
  virtual void check(const GenerationRequest&) const {}
  // Reads and amends `result` (images, metadata, data). Runs on a compute thread; throws
  // workers::Error.
  virtual void run(const GenerationRequest& request, GenerationResult& result) = 0;
};

}  // namespace workers
