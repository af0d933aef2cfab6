// SdxlPipelineManager: the PipelineManager of this engine. Maps a GenerationRequest onto an SDXL
// run: models from the TorchModelManager (base, refiner, VAE override), schedulers by name or the
// model's own config, init image and mask read from the image roots, LoRA stacks merged into the
// base model (LoraGate), ControlNets with their control maps, one CPU generator seeded with the
// request's seed, progress and cancellation per step; returns 8-bit images and metadata.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "inference/managers/lora_gate.h"
#include "inference/managers/pipeline_manager.h"
#include "models/managers/torch_model_manager.h"
#include "postprocessing/file_hashes.h"
#include "schedulers/managers/scheduler_catalog.h"

namespace workers {

struct PipelineSettings {
  std::vector<std::string> image_roots;  // where init images and masks may be read
  std::string default_scheduler;         // empty: the model's own scheduler
  double default_refiner_switch = 0.8;   // denoising_end when a refiner is named without one (A1111)
  std::map<std::string, std::string> controlnet_models;  // ControlNet type ("canny") -> model reference
};

class SdxlPipelineManager : public PipelineManager {
 public:
  SdxlPipelineManager(std::shared_ptr<TorchModelManager> models, std::shared_ptr<const SchedulerCatalog> catalog,
                      PipelineSettings settings);

  GenerationResult generate(const GenerationRequest& request, const JobContext& context) override;

 private:
  std::shared_ptr<TorchModelManager> models_;
  std::shared_ptr<const SchedulerCatalog> catalog_;
  PipelineSettings settings_;
  LoraGate lora_gate_;  // which LoRA stack each cached base model has merged
  FileHashCache hashes_;  // A1111's model, VAE and LoRA hashes for the metadata, once per file
};

}  // namespace workers
