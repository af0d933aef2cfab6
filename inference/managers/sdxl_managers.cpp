#include "inference/managers/sdxl_managers.h"

#include "inference/managers/sdxl_pipeline_manager.h"
#include "models/managers/torch_model_manager.h"

namespace workers {

SdxlManagers make_sdxl_managers(const WorkersConfig& config, const std::string& device, const std::string& dtype,
                                std::shared_ptr<const SchedulerCatalog> catalog) {
  auto models = std::make_shared<TorchModelManager>(config.model, device, dtype, default_data_dir());
  PipelineSettings settings;
  settings.image_roots = config.conditioning.image_roots;
  settings.controlnet_models = config.model.controlnet_models;
  settings.default_scheduler = config.scheduler.default_scheduler;
  return {models, std::make_shared<SdxlPipelineManager>(models, std::move(catalog), settings)};
}

}  // namespace workers
