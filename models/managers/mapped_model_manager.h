// MappedModelManager: ModelManager at the I/O level. A load resolves the reference through the
// ModelRegistry, opens and validates every weight file (memory-mapped, nothing copied) and keeps
// it open; status reports what is resident. Base and refiner checkpoints only for now: other
// components are refused with WORKER_UNAVAILABLE until their loaders exist.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <utility>

#include "models/io/model_registry.h"
#include "models/managers/model_manager.h"
#include "utilities/config.h"

namespace workers {

class MappedModelManager : public ModelManager {
 public:
  explicit MappedModelManager(const ModelConfig& config);

  LoadedModel load(const ModelReference& reference) override;
  bool unload(const ModelReference& reference) override;
  std::vector<LoadedModel> loaded() const override;

 private:
  struct Entry {
    LoadedModel info;
    std::shared_ptr<const void> files;  // keeps the mappings open
  };
  ModelRegistry registry_;
  mutable std::mutex mutex_;  // guards models_ (loads may come from any thread)
  std::map<std::pair<std::string, std::string>, Entry> models_;  // (component, canonical path)
};

}  // namespace workers
