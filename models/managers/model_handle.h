// ModelHandle: one model a request or a load request names (base, refiner, VAE source, ControlNet,
// LoRA file), resolved inside its roots, with its kind as an enum: what the model managers load
// from and what the pipeline registry is keyed by. Torch-free.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "models/io/model_registry.h"

namespace workers {

// The model families and component kinds this engine knows. A new family (SD 1.5, SD3, ...) is
// a new value here, its loaders in the model managers and its pipeline's registration.
enum class ModelKind { kSdxlBase, kSdxlRefiner, kSdxlInpaint, kVae, kControlNet, kLora };

// "sdxl-base", "sdxl-refiner", "sdxl-inpaint", "vae", "controlnet", "lora" (the status names).
std::string_view to_string(ModelKind kind);
std::optional<ModelKind> model_kind_from_string(std::string_view name);

// How a network is kept: resident in the compute dtype, or streamed (its weights parked as the
// file's views and converted unit by unit while they run; see models/nn/weight_stream.h).
enum class Residency { kResident, kStreamed };
std::string_view to_string(Residency residency);  // "resident", "streamed"

struct ModelHandle {
  std::string reference;
  std::string path;  // canonical
  ModelLayout layout = ModelLayout::kDiffusersFolder;
  ModelKind kind = ModelKind::kSdxlBase;
  bool force_zeros_for_empty_prompt = true;
  std::string config_from;  // single file: the diffusers folder whose configs win ("" = inferred)
  // The request field that named it ("model.base", "controlnets[1].model"): errors from its files
  // name this field (the file and key go into the message).
  std::string field = "model";
};

}  // namespace workers
