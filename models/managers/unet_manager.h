// UnetManager: the role that gives a model's denoising UNet, built on the device policy's device
// and dtype on first use and kept in the shared model cache. Torch-free declaration.
#pragma once

#include <memory>

#include "models/managers/model_handle.h"

namespace workers {

class UNet2DConditionModel;

class UnetManager {
 public:
  virtual ~UnetManager() = default;
  // Throws Error(INVALID_REQUEST) for a VAE handle, MODEL_LOAD_ERROR naming the handle's field.
  // Streamed: the cached network's weights stay parked (memory-mapped) and are converted while its
  // units run; a different cached object from the resident one.
  virtual std::shared_ptr<UNet2DConditionModel> unet(const ModelHandle& model, Residency residency) = 0;
  std::shared_ptr<UNet2DConditionModel> unet(const ModelHandle& model) { return unet(model, Residency::kResident); }
};

}  // namespace workers
