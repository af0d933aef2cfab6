// ModelInstructor: owns the model managers (resolver, UNet, VAE, text encoders, tokenizers, LoRA,
// ControlNet). It decides a job's models (every reference resolved inside its roots, the LoRA
// stack, each ControlNet's model), answers model_load_request / model_unload_request by routing
// each component to its manager, and reports what is resident through the MemoryManager.
// Without model managers it refuses with WORKER_UNAVAILABLE.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "inference/managers/job_plan.h"
#include "inference/managers/memory_manager.h"
#include "models/managers/model_managers.h"
#include "utilities/config.h"

namespace workers {

struct LoadedModel {
  std::string reference;
  std::string component;
  std::uint64_t bytes = 0;
  std::string path;    // resolved, inside a model root
  std::string layout;  // diffusers, single_file
  std::string kind;    // sdxl-base, sdxl-refiner, sdxl-inpaint, vae, lora, controlnet
  std::string residency = "resident";  // or "streamed" (weights parked, converted while they run)
};

class ModelInstructor {
 public:
  // `managers` all null (and `memory` null): model loading is not built into this binary.
  ModelInstructor(ModelManagers managers, std::shared_ptr<MemoryManager> memory, ModelConfig config);

  // Throws Error(MODEL_NOT_FOUND / MODEL_LOAD_ERROR / OOM_ERROR / INVALID_REQUEST, field).
  LoadedModel load(const ModelReference& reference);
  // False when nothing of the model was resident.
  bool unload(const ModelReference& reference);
  std::vector<LoadedModel> loaded() const;
  // The protocol's data for model_load_response / model_unload_response.
  nlohmann::json load_response(const ModelReference& reference);
  nlohmann::json unload_response(const ModelReference& reference);

  // The job's models: plan.request's references resolved (base, refiner, VAE, LoRA files,
  // ControlNets with plan.conditioning's preprocessors), into plan.models. Runs when the job
  // starts (on a compute thread: resolving reads model folders). Throws as load().
  void resolve(JobPlan& plan) const;

  nlohmann::json status() const;

 private:
  bool available() const;
  void require() const;
  // The canonical path a load/unload request's model resolves to, with its kind and layout.
  ModelHandle handle_of(const ModelReference& reference) const;

  ModelManagers managers_;
  std::shared_ptr<MemoryManager> memory_;
  ModelConfig config_;
};

}  // namespace workers
