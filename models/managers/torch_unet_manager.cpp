#include "models/managers/torch_unet_manager.h"

#include <torch/torch.h>

namespace workers {

std::shared_ptr<UNet2DConditionModel> TorchUnetManager::unet(const ModelHandle& model) {
  if (model.kind == ModelKind::kVae) throw_invalid(model.field, model.reference + " is a VAE, not an SDXL model");
  return loader_->cached_as<UNet2DConditionModel>(
      model, "unet", [&] { return cached_module(build_unet(loader_->source(model, "unet"), loader_->placement())); });
}

}  // namespace workers
