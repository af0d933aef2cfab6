// SdxlFamilyPipeline: the pipeline of the SDXL family (base, inpainting, with a refiner): takes a
// planned job's decisions and runs them: components from the model managers, schedulers built
// from the decided choice, conditioning inputs from the ConditioningManager, the LoRA stack through
// the LoraGate, one seeded generator per batch chunk; returns 8-bit images and metadata.
#pragma once

#include <memory>

#include "conditioning/managers/conditioning_manager.h"
#include "inference/managers/lora_gate.h"
#include "inference/managers/pipeline_manager.h"
#include "models/managers/model_managers.h"
#include "postprocessing/managers/upscaler_manager.h"
#include "postprocessing/file_hashes.h"

namespace workers {

struct SdxlPipelineSettings {
  double default_refiner_switch = 0.8;  // denoising_end when a refiner is named without one (A1111)
};

class SdxlFamilyPipeline : public Pipeline {
 public:
  // `upscalers`: the hires fix's pixel upscalers (null: only its latent modes).
  SdxlFamilyPipeline(ModelManagers models, std::shared_ptr<ConditioningManager> conditioning,
                     SdxlPipelineSettings settings, std::shared_ptr<UpscalerManager> upscalers = nullptr);

  GenerationResult run(const JobPlan& plan, const JobContext& context) override;

 private:
  ModelManagers models_;
  std::shared_ptr<ConditioningManager> conditioning_;
  SdxlPipelineSettings settings_;
  std::shared_ptr<UpscalerManager> upscalers_;
  LoraGate lora_gate_;    // which LoRA stack each cached base model has merged
  FileHashCache hashes_;  // A1111's model, VAE and LoRA hashes for the metadata, once per file
};

}  // namespace workers
