// Builds the torch-backed model and pipeline managers behind torch-free roles, so the composition
// root (which must compile without libtorch headers) can wire them.
#pragma once

#include <memory>
#include <string>

#include "inference/managers/pipeline_manager.h"
#include "models/managers/model_manager.h"
#include "schedulers/managers/scheduler_catalog.h"
#include "utilities/config.h"

namespace workers {

struct SdxlManagers {
  std::shared_ptr<ModelManager> model;  // the same object serves both roles
  std::shared_ptr<PipelineManager> pipeline;
};

// `device` / `dtype`: the device policy's choice (e.g. "cpu", "float32"). config.model.cache_bytes
// must already hold the budget to use (0: unlimited).
SdxlManagers make_sdxl_managers(const WorkersConfig& config, const std::string& device, const std::string& dtype,
                                std::shared_ptr<const SchedulerCatalog> catalog);

}  // namespace workers
