// Builds the torch-backed managers (models, memory, conditioning, the pipeline registry with the
// SDXL family) behind torch-free roles, so the composition root (which must compile without
// libtorch headers) can wire them.
#pragma once

#include <memory>
#include <string>

#include "conditioning/managers/conditioning_manager.h"
#include "inference/managers/memory_manager.h"
#include "inference/managers/pipeline_manager.h"
#include "models/managers/model_managers.h"
#include "postprocessing/managers/upscaler_manager.h"
#include "utilities/config.h"

namespace workers {

struct SdxlManagers {
  ModelManagers models;
  std::shared_ptr<MemoryManager> memory;
  std::shared_ptr<ConditioningManager> conditioning;
  std::shared_ptr<PipelineManager> pipeline;
};

// `device` / `dtype`: the device policy's choice (e.g. "cpu", "float32"). config.model.cache_bytes
// must already hold the budget to use (0: unlimited).
// `upscalers`: the hires fix's pixel upscalers (null: only its latent modes).
SdxlManagers make_sdxl_managers(const WorkersConfig& config, const std::string& device, const std::string& dtype,
                                std::shared_ptr<UpscalerManager> upscalers = nullptr);

}  // namespace workers
