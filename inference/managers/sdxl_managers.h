// Builds the torch-backed managers (models, memory, conditioning, the pipeline registry with the
// SDXL family) behind torch-free roles, so the composition root (which must compile without
// libtorch headers) can wire them.
#pragma once

#include <memory>
#include <cstdint>
#include <functional>
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

// Where the SDXL stack runs, as the device policy chose: device and dtype ("cpu", "float32"),
// the memory budget (0: unlimited) the memory manager plans jobs for, and the probe it reads.
struct SdxlPlacement {
  std::string device = "cpu";
  std::string dtype = "float32";
  std::uint64_t memory_budget = 0;
  std::shared_ptr<MemoryProbe> probe;
};

// config.model.cache_bytes must already hold the cache's budget (0: unlimited).
// `upscalers`: the hires fix's pixel upscalers (null: only its latent modes).
SdxlManagers make_sdxl_managers(const WorkersConfig& config, const SdxlPlacement& placement,
                                std::shared_ptr<UpscalerManager> upscalers = nullptr);

}  // namespace workers
