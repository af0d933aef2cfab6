#include "inference/managers/sdxl_managers.h"

#include "conditioning/managers/sdxl_conditioning_manager.h"
#include "inference/managers/family_pipeline_manager.h"
#include "inference/managers/sdxl_family_pipeline.h"
#include "models/managers/torch_model_managers.h"

namespace workers {

SdxlManagers make_sdxl_managers(const WorkersConfig& config, const SdxlPlacement& placement,
                                std::shared_ptr<UpscalerManager> upscalers) {
  SdxlManagers out;
  MemorySettings settings;
  settings.budget = placement.memory_budget;
  settings.element = placement.dtype == "float32" ? 4 : 2;
  auto memory = make_memory(config.model.cache_bytes, settings, placement.probe);
  out.memory = memory.memory;
  out.models = make_torch_model_managers(config.model, placement.device, placement.dtype, default_data_dir(),
                                         memory.cache)
                   .roles();
  memory.memory->attach(out.models.resolver);
  out.conditioning = std::make_shared<SdxlConditioningManager>(config.conditioning);
  auto pipelines = std::make_shared<FamilyPipelineManager>();
  // The pipeline registry: one line per model family a base model may be.
  auto sdxl = std::make_shared<SdxlFamilyPipeline>(out.models, out.conditioning, SdxlPipelineSettings{},
                                                   std::move(upscalers));
  pipelines->register_pipeline(ModelKind::kSdxlBase, sdxl);
  pipelines->register_pipeline(ModelKind::kSdxlInpaint, sdxl);
  out.pipeline = pipelines;
  return out;
}

}  // namespace workers
