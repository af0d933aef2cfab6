#include "models/managers/torch_unet_manager.h"

#include <torch/torch.h>

namespace workers {

std::shared_ptr<UNet2DConditionModel> TorchUnetManager::unet(const ModelHandle& model, Residency residency) {
  if (model.kind == ModelKind::kVae) throw_invalid(model.field, model.reference + " is a VAE, not an SDXL model");
  return loader_->cached_as<UNet2DConditionModel>(model, "unet", residency, [&] {
    const auto source = loader_->source(model, "unet");
    if (residency == Residency::kResident) return cached_module(build_unet(source, loader_->placement()));
    return streamed_module(build_streamed(source, build_unet), loader_->placement());
  });
}

}  // namespace workers
