// TorchTextEncoderManager: the TextEncoderManager over the shared ComponentLoader: both CLIP
// encoders (text_encoder_2 alone for a refiner) with the TokenizerManager's tokenizers, cached together.
#pragma once

#include <memory>

#include "models/managers/component_loader.h"
#include "models/managers/text_encoder_manager.h"
#include "models/managers/tokenizer_manager.h"

namespace workers {

class TorchTextEncoderManager : public TextEncoderManager {
 public:
  TorchTextEncoderManager(std::shared_ptr<ComponentLoader> loader, std::shared_ptr<TokenizerManager> tokenizers)
      : loader_(std::move(loader)), tokenizers_(std::move(tokenizers)) {}
  using TextEncoderManager::text_encoders;
  std::shared_ptr<SdxlTextEncoders> text_encoders(const ModelHandle& model, Residency residency) override;

 private:
  std::shared_ptr<ComponentLoader> loader_;
  std::shared_ptr<TokenizerManager> tokenizers_;
};

}  // namespace workers
