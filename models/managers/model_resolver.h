// ModelResolver: the role that turns a model reference (a name under a model root, or a path inside
// one) into a ModelHandle: its layout, its kind and its flags, and reads the scheduler config a
// model ships. What the model instructor decides a job's models with. Torch-free.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "models/managers/model_handle.h"

namespace workers {

// What planning memory needs to know of a component before loading it (read from the file
// headers and config, no weight read).
struct ComponentFacts {
  std::uint64_t parameters = 0;    // floating-point elements
  std::uint64_t largest_unit = 0;  // elements of its largest streaming unit (a block, a layer)
  std::uint64_t root = 0;          // elements outside every unit (embeddings, conv_in/out)
  std::uint64_t stored_bytes = 0;  // as stored in its files
  nlohmann::json config;           // its config.json (inferred for a single file)
};

class ModelResolver {
 public:
  virtual ~ModelResolver() = default;
  // A base, refiner or inpainting model. `config_from` (a model reference, single-file checkpoints
  // only): the diffusers folder whose configs win. Throws Error(INVALID_REQUEST / MODEL_NOT_FOUND,
  // field) and MODEL_LOAD_ERROR.
  virtual ModelHandle open(const std::string& reference, const std::string& field,
                           const std::string& config_from = "") const = 0;
  // A VAE: a model's vae/, a single-file checkpoint's VAE, or a bare VAE folder under a model root.
  virtual ModelHandle open_vae(const std::string& reference, const std::string& field) const = 0;
  // The model's scheduler_config.json (SDXL's published one for single files).
  virtual nlohmann::json scheduler_config(const ModelHandle& model) const = 0;
  // Where components are placed ("cpu", "cuda:0"), as the device policy chose.
  virtual std::string device() const = 0;
  // The handle opened for a canonical path, if any (for status: kind and layout of cached models).
  virtual std::optional<ModelHandle> opened(const std::string& path) const = 0;
  // `component` ("unet", "text_encoder", "text_encoder_2", "vae") of the model, as facts for the
  // memory planner; read once per file. Throws as open().
  virtual ComponentFacts component_facts(const ModelHandle& model, const std::string& component) const = 0;
};

}  // namespace workers
