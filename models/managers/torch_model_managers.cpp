#include "models/managers/torch_model_managers.h"

namespace workers {

TorchModelManagers make_torch_model_managers(const ModelConfig& config, const std::string& device,
                                             const std::string& dtype, const std::string& data_dir,
                                             std::shared_ptr<ModelCache> cache) {
  TorchModelManagers m;
  m.cache = std::move(cache);
  m.loader = std::make_shared<ComponentLoader>(config, device, dtype, data_dir, m.cache);
  m.unet = std::make_shared<TorchUnetManager>(m.loader);
  m.vae = std::make_shared<TorchVaeManager>(m.loader);
  m.tokenizers = std::make_shared<ClipTokenizerManager>(data_dir);
  m.text_encoders = std::make_shared<TorchTextEncoderManager>(m.loader, m.tokenizers);
  m.loras = std::make_shared<FileLoraManager>(config.lora_roots, m.cache, config.trusted_link_targets);
  m.controlnets = std::make_shared<TorchControlNetManager>(config, m.loader);
  return m;
}

}  // namespace workers
