// FamilyPipelineManager: the PipelineManager as a registry of pipelines by model family: a job
// runs on the pipeline registered for its base model's kind. Adding a family = its pipeline
// (a worker) + one registration line where the composition builds this manager.
#pragma once

#include <map>
#include <memory>

#include "inference/managers/pipeline_manager.h"

namespace workers {

class FamilyPipelineManager : public PipelineManager {
 public:
  // Throws std::invalid_argument when `kind` already has a pipeline.
  void register_pipeline(ModelKind kind, std::shared_ptr<Pipeline> pipeline);
  // Throws Error(INVALID_REQUEST, "model.base") when no pipeline runs the base model's kind; maps
  // allocation failures to OOM_ERROR.
  GenerationResult generate(const JobPlan& plan, const JobContext& context) override;

 private:
  std::map<ModelKind, std::shared_ptr<Pipeline>> pipelines_;
};

}  // namespace workers
