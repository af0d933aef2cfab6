// JobPlan: a generation job as the instructors decided it. The request plus every decision made
// before the pipeline runs (models resolved inside their roots, the scheduler, the clip-skip index,
// the LoRA stack, ControlNets with their preprocessors, the batch's chunks, the postprocessing
// stages), so nothing downstream decides any of them again. Torch-free.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "conditioning/managers/conditioning_manager.h"
#include "inference/managers/memory_plan.h"
#include "models/managers/model_handle.h"
#include "schedulers/managers/scheduler_catalog.h"
#include "utilities/generation_request.h"

namespace workers {

// The scheduler: `choice` resolved from the requested (or configured default) name; nullopt: the
// model's own scheduler_config.json. `label` is what the metadata calls it.
struct SchedulerDecision {
  std::string label;
  std::optional<SchedulerChoice> choice;
};

// One adapter of the LoRA stack: enabled, weight × lora_scale (non-zero), its file resolved.
struct LoraChoice {
  std::string name;   // as the request named it
  std::string path;   // canonical, inside a LoRA root
  double weight = 1.0;
  std::string field;  // "loras[2]"
};

// One ControlNet: its model (named, or configured for its type) and where its control map comes
// from (its image, or init_image) with the preprocessor to run.
struct ControlChoice {
  ModelHandle model;
  std::string image;        // image reference
  std::string image_field;  // "controlnets[0].image" or "init_image"
  std::string preprocess;   // "" = the image is a control map
};

// One run of the denoising loop over `size` images. The generator is seeded with `seed`; draws
// are made for `draw_batch` images and images [offset, offset + size) kept, so a chunk gives
// exactly the images of one run over the whole batch.
struct BatchChunk {
  std::uint64_t seed = 0;
  int offset = 0;
  int size = 1;
  int draw_batch = 1;
};

struct ResolvedModels {
  ModelHandle base;
  std::optional<ModelHandle> refiner;
  ModelHandle vae;  // the base model unless model.vae names another
  std::vector<LoraChoice> loras;
  std::vector<ControlChoice> controls;
};

struct JobPlan {
  GenerationRequest request;  // validated; seed set
  ConditioningDecision conditioning;
  SchedulerDecision scheduler;
  std::vector<BatchChunk> chunks;
  std::vector<std::string> stages;  // postprocessing stages, in order
  // Filled by the model instructor when the job starts (resolving reads the model folders).
  std::optional<ResolvedModels> models;
  // Decided by the memory manager when the job starts (after its models), and again one rung
  // cheaper after an out-of-memory error. Default: everything resident, nothing switched.
  MemoryPlan memory;
};

}  // namespace workers
