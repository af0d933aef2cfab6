// ModelManager: the role that loads, caches and unloads model components on request
// (model_load_request / model_unload_request) and reports what is resident.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "utilities/generation_request.h"

namespace workers {

struct LoadedModel {
  std::string reference;
  std::string component;
  std::string device;
  std::uint64_t bytes = 0;
  std::string path;    // resolved, inside a model root
  std::string layout;  // diffusers, single_file
  std::string kind;    // sdxl-base, sdxl-refiner, sdxl-inpaint
};

class ModelManager {
 public:
  virtual ~ModelManager() = default;
  // Throws Error(MODEL_NOT_FOUND / MODEL_LOAD_ERROR / OOM_ERROR).
  virtual LoadedModel load(const ModelReference& reference) = 0;
  // Returns false when the model was not loaded.
  virtual bool unload(const ModelReference& reference) = 0;
  virtual std::vector<LoadedModel> loaded() const = 0;
  // The cache budget in effect (bytes; 0: no limit).
  virtual std::uint64_t cache_budget() const { return 0; }
};

}  // namespace workers
