// TorchModelManager: loads SDXL components (UNet, VAE, both text encoders with their tokenizers,
// scheduler config) from a diffusers folder or a single-file checkpoint on first use, placed as the
// device policy says, and keeps them in the byte-budgeted ModelCache. It is the ModelManager of
// model_load / model_unload / status requests and the component source of the SDXL pipeline.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "models/io/model_registry.h"
#include "models/managers/lora_manager.h"
#include "models/managers/model_cache.h"
#include "models/managers/model_manager.h"
#include "models/nn/networks.h"
#include "models/nn/sdxl_text_encoders.h"
#include "utilities/config.h"

namespace workers {

// One model of a request (base, refiner or VAE source), resolved inside the model roots.
struct ModelHandle {
  std::string reference;
  std::string path;  // canonical
  ModelLayout layout = ModelLayout::kDiffusersFolder;
  std::string kind;  // sdxl-base, sdxl-refiner, sdxl-inpaint, vae, controlnet, lora
  bool force_zeros_for_empty_prompt = true;
  std::string config_from;  // single file: the diffusers folder whose configs win ("" = inferred)
  // The request field that named it ("model.base", "controlnets[1].model"): errors from its files
  // name this field (the file and key go into the message).
  std::string field = "model";
};

class TorchModelManager : public ModelManager {
 public:
  // `data_dir` holds what single-file checkpoints lack (data/tokenizers, data/sdxl scheduler config).
  // `device` (cpu, cuda:N) and `dtype` (float32, float16, bfloat16) as the device policy chose them.
  TorchModelManager(const ModelConfig& config, const std::string& device, const std::string& dtype,
                    std::string data_dir);

  // ModelManager (protocol): base / refiner load every component, vae the VAE, lora an adapter
  // file, controlnet a ControlNet.
  LoadedModel load(const ModelReference& reference) override;
  bool unload(const ModelReference& reference) override;
  std::vector<LoadedModel> loaded() const override;
  std::uint64_t cache_budget() const override { return cache_.budget(); }

  // Throws Error(INVALID_REQUEST / MODEL_NOT_FOUND, field) and MODEL_LOAD_ERROR.
  // `config_from` (a model reference, single-file checkpoints only): see ModelSuite::config_from.
  ModelHandle open(const std::string& reference, const std::string& field, const std::string& config_from = "") const;
  // A VAE: a diffusers model's vae/, a single-file checkpoint's VAE, or a bare VAE folder
  // (config.json + weights, e.g. an fp16-fix VAE) under a model root.
  ModelHandle open_vae(const std::string& reference, const std::string& field) const;

  // A ControlNet under the ControlNet roots: a diffusers folder (config.json + weights) or one
  // .safetensors file (original or diffusers names; config inferred from the shapes, or read from
  // NAME.config.json beside NAME.safetensors).
  ModelHandle open_controlnet(const std::string& reference, const std::string& field) const;

  std::shared_ptr<UNet2DConditionModel> unet(const ModelHandle& model);
  std::shared_ptr<ControlNetModel> controlnet(const ModelHandle& model);
  std::shared_ptr<AutoencoderKL> vae(const ModelHandle& model);
  std::shared_ptr<SdxlTextEncoders> text_encoders(const ModelHandle& model);
  nlohmann::json scheduler_config(const ModelHandle& model) const;

  LoraManager& loras() { return loras_; }
  const Placement& placement() const { return placement_; }
  const ModelCache& cache() const { return cache_; }

 private:
  // The model a load/unload request names, by component (base, refiner, vae, lora, controlnet).
  ModelHandle handle_of(const ModelReference& reference) const;
  ComponentSource source(const ModelHandle& model, const std::string& component) const;
  std::string key(const ModelHandle& model, const std::string& component) const;
  std::shared_ptr<ControlNetModel> controlnet_module(const ModelHandle& model);
  std::shared_ptr<SdxlTextEncoders> text_encoders_module(const ModelHandle& model);

  ModelRegistry registry_;
  ModelRegistry controlnet_registry_;
  Placement placement_;
  std::string device_name_;
  std::string data_dir_;
  ModelCache cache_;
  LoraManager loras_;  // shares cache_
  mutable std::mutex handles_mutex_;  // guards handles_ (any thread may open)
  mutable std::map<std::string, ModelHandle> handles_;  // canonical path|config_from -> kind etc.
};

// The data folder of this build (tokenizers and configs for single-file checkpoints):
// $SDXL_WORKERS_DATA_DIR, else the source tree's data/.
std::string default_data_dir();

}  // namespace workers
