// TextEncoderManager: the role that gives a model's CLIP text encoders (both for a base model,
// text_encoder_2 alone for a refiner) with their tokenizers, kept in the shared model cache.
#pragma once

#include <memory>

#include "models/managers/model_handle.h"

namespace workers {

struct SdxlTextEncoders;

class TextEncoderManager {
 public:
  virtual ~TextEncoderManager() = default;
  // Throws Error(INVALID_REQUEST) for a VAE handle, MODEL_LOAD_ERROR naming the handle's field.
  // Streamed: as UnetManager's.
  virtual std::shared_ptr<SdxlTextEncoders> text_encoders(const ModelHandle& model, Residency residency) = 0;
  std::shared_ptr<SdxlTextEncoders> text_encoders(const ModelHandle& model) {
    return text_encoders(model, Residency::kResident);
  }
};

}  // namespace workers
