// The model managers the model instructor owns, one per resource, each behind its role; the
// torch implementations share one ComponentLoader and one byte-budgeted cache. Torch-free.
#pragma once

#include <memory>

#include "models/managers/controlnet_manager.h"
#include "models/managers/lora_manager.h"
#include "models/managers/model_resolver.h"
#include "models/managers/text_encoder_manager.h"
#include "models/managers/tokenizer_manager.h"
#include "models/managers/unet_manager.h"
#include "models/managers/vae_manager.h"

namespace workers {

// All null: model loading is not built into this binary.
struct ModelManagers {
  std::shared_ptr<ModelResolver> resolver;
  std::shared_ptr<UnetManager> unet;
  std::shared_ptr<VaeManager> vae;
  std::shared_ptr<TextEncoderManager> text_encoders;
  std::shared_ptr<TokenizerManager> tokenizers;
  std::shared_ptr<LoraManager> loras;
  std::shared_ptr<ControlNetManager> controlnets;
};

}  // namespace workers
