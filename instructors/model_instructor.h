// ModelInstructor: answers model_load_request / model_unload_request through the ModelManager and
// reports resident models. Without a ModelManager it refuses with WORKER_UNAVAILABLE.
#pragma once

#include <memory>

#include "models/managers/model_manager.h"
#include "utilities/config.h"

namespace workers {

class ModelInstructor {
 public:
  // `manager` may be null while no model manager is built into this binary.
  ModelInstructor(std::shared_ptr<ModelManager> manager, ModelConfig config);

  nlohmann::json load(const ModelReference& reference);
  nlohmann::json unload(const ModelReference& reference);
  nlohmann::json status() const;

 private:
  ModelManager& require() const;

  std::shared_ptr<ModelManager> manager_;
  ModelConfig config_;
};

}  // namespace workers
