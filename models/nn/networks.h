// Builds a network from a component of either checkpoint layout: a diffusers folder component
// (config.json + weight files) or a component of a single-file checkpoint (inferred config +
// renamed views). The entry point the model managers use; tests use it the same way.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "models/nn/autoencoder_kl.h"
#include "models/nn/clip_text_model.h"
#include "models/nn/controlnet_model.h"
#include "models/nn/unet_2d_condition.h"
#include "models/nn/weights.h"

namespace workers {

struct ComponentFiles;
struct ConvertedComponent;

struct ComponentSource {
  std::string what;  // for errors: "<model>/<component>"
  nlohmann::json config;
  NamedTensors tensors;
};

ComponentSource component_source(const ComponentFiles& component);
ComponentSource component_source(const ConvertedComponent& component, const std::string& checkpoint_path);
// `folder`/`component` of a diffusers folder (e.g. "models/tiny-sdxl", "unet").
ComponentSource component_source(const std::string& folder, const std::string& component);
// A bare component folder (config.json + weights, no model_index.json), e.g. a ControlNet.
ComponentSource component_folder_source(const std::string& component_folder);

struct Placement {
  c10::ScalarType dtype = c10::kFloat;
  c10::Device device = c10::kCPU;
};

// The device policy's spelling ("cpu", "cuda:0"; "float32" / "fp32", "float16" / "fp16",
// "bfloat16" / "bf16") as a Placement, for every manager that builds networks. Throws
// Error(CONFIG_ERROR) for a spelling it does not know.
Placement placement_of(const std::string& device, const std::string& dtype);
// "float32", "float16" or "bfloat16".
std::string dtype_name(c10::ScalarType dtype);

// Each builds the module from source.config, loads every weight (strictly, see load_weights),
// moves it to the placement and puts it in eval mode. Errors: Error(MODEL_LOAD_ERROR).
UNet2DConditionModel build_unet(const ComponentSource& source, const Placement& placement = {});
ControlNetModel build_controlnet(const ComponentSource& source, const Placement& placement = {});
AutoencoderKL build_vae(const ComponentSource& source, const Placement& placement = {});
ClipTextModel build_clip_text(const ComponentSource& source, const Placement& placement = {});

}  // namespace workers
