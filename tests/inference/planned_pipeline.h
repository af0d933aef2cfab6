// The production SDXL stack for pipeline tests: the torch model managers, the conditioning
// manager and the pipeline registry, with jobs planned by the real instructors' decisions
// (conditioning, scheduler, batch, models), as WorkersInterface plans them.
#pragma once

#include <memory>
#include <string>

#include "conditioning/managers/sdxl_conditioning_manager.h"
#include "inference/managers/batch_manager.h"
#include "inference/managers/family_pipeline_manager.h"
#include "inference/managers/memory_manager.h"
#include "inference/managers/sdxl_family_pipeline.h"
#include "instructors/conditioning_instructor.h"
#include "instructors/model_instructor.h"
#include "instructors/scheduler_instructor.h"
#include "models/managers/torch_model_managers.h"
#include "schedulers/managers/scheduler_name_table.h"

namespace workers::testing_support {

struct PlannedPipelineOptions {
  ModelConfig model;
  MemorySettings memory;  // budget 0: no planning limit
  ConditioningConfig conditioning;
  std::string default_scheduler;
  int max_batch_chunk = 0;
};

class PlannedPipeline {
 public:
  explicit PlannedPipeline(PlannedPipelineOptions options)
      : memory_(make_memory(options.model.cache_bytes, options.memory)),
        models_(make_torch_model_managers(options.model, "cpu", "float32", SDXL_DATA_DIR, memory_.cache)),
        conditioning_(std::make_shared<SdxlConditioningManager>(options.conditioning)),
        conditioning_instructor_(conditioning_),
        scheduler_instructor_(std::make_shared<SchedulerNameTable>(), SchedulerConfig{options.default_scheduler}),
        model_instructor_(models_.roles(), memory_.memory, options.model),
        batch_(options.max_batch_chunk) {
    auto sdxl = std::make_shared<SdxlFamilyPipeline>(models_.roles(), conditioning_, SdxlPipelineSettings{});
    pipeline_.register_pipeline(ModelKind::kSdxlBase, sdxl);
    pipeline_.register_pipeline(ModelKind::kSdxlInpaint, sdxl);
    memory_.memory->attach(models_.loader);
  }

  JobPlan plan(GenerationRequest request) const {
    JobPlan plan;
    if (!request.seed) request.seed = 0;
    plan.request = std::move(request);
    plan.conditioning = conditioning_instructor_.check(plan.request);
    plan.scheduler = scheduler_instructor_.resolve(plan.request);
    plan.chunks = batch_.split(plan.request);
    model_instructor_.resolve(plan);
    return plan;
  }
  GenerationResult generate(const GenerationRequest& request, const JobContext& context) {
    return pipeline_.generate(plan(request), context);
  }
  const TorchModelManagers& models() const { return models_; }
  const ModelCache& cache() const { return *memory_.cache; }
  PlanningMemoryManager& memory() { return *memory_.memory; }
  FamilyPipelineManager& pipeline() { return pipeline_; }

 private:
  MemoryParts memory_;
  TorchModelManagers models_;
  std::shared_ptr<SdxlConditioningManager> conditioning_;
  ConditioningInstructor conditioning_instructor_;
  SchedulerInstructor scheduler_instructor_;
  ModelInstructor model_instructor_;
  ChunkingBatchManager batch_;
  FamilyPipelineManager pipeline_;
};

}  // namespace workers::testing_support
