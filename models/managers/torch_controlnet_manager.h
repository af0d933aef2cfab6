// TorchControlNetManager: the ControlNetManager: references resolved in the ControlNet roots,
// networks built through the shared ComponentLoader (folder, or one file with an optional sidecar config).
#pragma once

#include <memory>

#include "models/managers/component_loader.h"
#include "models/managers/controlnet_manager.h"

namespace workers {

class TorchControlNetManager : public ControlNetManager {
 public:
  TorchControlNetManager(const ModelConfig& config, std::shared_ptr<ComponentLoader> loader);
  ModelHandle open(const std::string& reference, const std::string& field) const override;
  std::shared_ptr<ControlNetModel> controlnet(const ModelHandle& model) override;

 private:
  ModelRegistry registry_;
  std::shared_ptr<ComponentLoader> loader_;
};

}  // namespace workers
