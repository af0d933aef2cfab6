#include "models/managers/torch_vae_manager.h"

#include <torch/torch.h>

namespace workers {

std::shared_ptr<AutoencoderKL> TorchVaeManager::vae(const ModelHandle& model) {
  return loader_->cached_as<AutoencoderKL>(model, "vae", [&] {
    const auto src = loader_->source(model, "vae");
    const auto& placement = loader_->placement();
    const auto dtype = vae_compute_dtype(VaeConfig::from_json(src.config, src.what), placement.dtype);
    return cached_module(build_vae(src, Placement{dtype, placement.device}));
  });
}

}  // namespace workers
