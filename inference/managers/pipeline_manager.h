// PipelineManager: the role that turns one planned job (JobPlan: the request and the instructors'
// decisions) into images, reporting progress and honouring cancellation through the JobContext.
// Runs on a compute thread. Pipeline: the role of one model family's pipeline, a worker the
// manager's registry picks by the base model's kind.
#pragma once

#include "inference/managers/job_plan.h"
#include "utilities/generation_result.h"
#include "utilities/job_context.h"

namespace workers {

class PipelineManager {
 public:
  virtual ~PipelineManager() = default;
  // `plan.models` is resolved. Throws workers::Error (CANCELLED / TIMEOUT_ERROR via the context,
  // OOM_ERROR, MODEL_*, INVALID_REQUEST for a model no pipeline is registered for).
  virtual GenerationResult generate(const JobPlan& plan, const JobContext& context) = 0;
};

class Pipeline {
 public:
  virtual ~Pipeline() = default;
  virtual GenerationResult run(const JobPlan& plan, const JobContext& context) = 0;
};

}  // namespace workers
