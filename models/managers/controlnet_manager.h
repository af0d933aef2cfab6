// ControlNetManager: the role that resolves ControlNet references inside the ControlNet roots
// (a diffusers folder or one .safetensors file) and gives their networks from the shared cache.
#pragma once

#include <memory>
#include <string>

#include "models/managers/model_handle.h"

namespace workers {

class ControlNetModel;

class ControlNetManager {
 public:
  virtual ~ControlNetManager() = default;
  // Throws Error(INVALID_REQUEST / MODEL_NOT_FOUND, field).
  virtual ModelHandle open(const std::string& reference, const std::string& field) const = 0;
  virtual std::shared_ptr<ControlNetModel> controlnet(const ModelHandle& model) = 0;
};

}  // namespace workers
