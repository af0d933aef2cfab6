// VaeManager: the role that gives a model's (or a bare VAE folder's) AutoencoderKL, fp32 where
// the config asks for force_upcast, kept in the shared model cache. Torch-free declaration.
#pragma once

#include <memory>

#include "models/managers/model_handle.h"

namespace workers {

class AutoencoderKL;

class VaeManager {
 public:
  virtual ~VaeManager() = default;
  virtual std::shared_ptr<AutoencoderKL> vae(const ModelHandle& model) = 0;
};

}  // namespace workers
