// The torch model managers as production builds them: one ComponentLoader over one cache, each
// manager behind its role (roles()), the concrete objects kept for tests and benchmarks.
#pragma once

#include <memory>
#include <string>

#include "models/managers/clip_tokenizer_manager.h"
#include "models/managers/component_loader.h"
#include "models/managers/file_lora_manager.h"
#include "models/managers/model_managers.h"
#include "models/managers/torch_controlnet_manager.h"
#include "models/managers/torch_text_encoder_manager.h"
#include "models/managers/torch_unet_manager.h"
#include "models/managers/torch_vae_manager.h"

namespace workers {

struct TorchModelManagers {
  std::shared_ptr<ModelCache> cache;
  std::shared_ptr<ComponentLoader> loader;
  std::shared_ptr<TorchUnetManager> unet;
  std::shared_ptr<TorchVaeManager> vae;
  std::shared_ptr<TorchTextEncoderManager> text_encoders;
  std::shared_ptr<ClipTokenizerManager> tokenizers;
  std::shared_ptr<FileLoraManager> loras;
  std::shared_ptr<TorchControlNetManager> controlnets;

  ModelManagers roles() const { return {loader, unet, vae, text_encoders, tokenizers, loras, controlnets}; }
};

// `device` / `dtype`: the device policy's choice ("cpu", "float32"); `data_dir`: default_data_dir().
TorchModelManagers make_torch_model_managers(const ModelConfig& config, const std::string& device,
                                             const std::string& dtype, const std::string& data_dir,
                                             std::shared_ptr<ModelCache> cache);

}  // namespace workers
