// TorchUnetManager: the UnetManager over the shared ComponentLoader: the model's unet/ (or the
// single file's UNet) built on the policy's placement, cached as component "unet".
#pragma once

#include <memory>

#include "models/managers/component_loader.h"
#include "models/managers/unet_manager.h"

namespace workers {

class TorchUnetManager : public UnetManager {
 public:
  explicit TorchUnetManager(std::shared_ptr<ComponentLoader> loader) : loader_(std::move(loader)) {}
  using UnetManager::unet;
  std::shared_ptr<UNet2DConditionModel> unet(const ModelHandle& model, Residency residency) override;

 private:
  std::shared_ptr<ComponentLoader> loader_;
};

}  // namespace workers
