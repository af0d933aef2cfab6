// TorchVaeManager: the VaeManager over the shared ComponentLoader; fp16 with force_upcast builds
// the VAE in fp32 (the SDXL VAE overflows in fp16). Cached as component "vae".
#pragma once

#include <memory>

#include "models/managers/component_loader.h"
#include "models/managers/vae_manager.h"

namespace workers {

class TorchVaeManager : public VaeManager {
 public:
  explicit TorchVaeManager(std::shared_ptr<ComponentLoader> loader) : loader_(std::move(loader)) {}
  std::shared_ptr<AutoencoderKL> vae(const ModelHandle& model) override;

 private:
  std::shared_ptr<ComponentLoader> loader_;
};

}  // namespace workers
