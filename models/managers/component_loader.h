// ComponentLoader: what every torch model manager shares: model references resolved inside the
// model roots (the ModelResolver), component sources of either layout (diffusers folder, single
// file), the device policy's placement, and the one byte-budgeted ModelCache they all load into.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "models/io/model_registry.h"
#include "models/managers/model_cache.h"
#include "models/managers/model_resolver.h"
#include "models/nn/networks.h"
#include "models/nn/weight_stream.h"
#include "utilities/config.h"
#include "utilities/error.h"

namespace workers {

class ComponentLoader : public ModelResolver {
 public:
  // `data_dir` holds what single-file checkpoints lack (data/tokenizers, data/sdxl scheduler config).
  // `device` (cpu, cuda:N) and `dtype` (float32, float16, bfloat16) as the device policy chose them.
  ComponentLoader(const ModelConfig& config, const std::string& device, const std::string& dtype,
                  std::string data_dir, std::shared_ptr<ModelCache> cache);

  ModelHandle open(const std::string& reference, const std::string& field,
                   const std::string& config_from = "") const override;
  ModelHandle open_vae(const std::string& reference, const std::string& field) const override;
  nlohmann::json scheduler_config(const ModelHandle& model) const override;
  std::optional<ModelHandle> opened(const std::string& path) const override;
  ComponentFacts component_facts(const ModelHandle& model, const std::string& component) const override;
  std::string device() const override { return device_name_; }

  // A component of the model as weights + config, from a folder or the single file.
  ComponentSource source(const ModelHandle& model, const std::string& component) const;
  // The cached `component` of `model` on this placement, built by `build` on first use. Errors
  // while building name the handle's field.
  // `residency`: a streamed component is another cache entry (its key says so); a resident one
  // of a base model's component ("unet", "text_encoders", "vae") is checked against the budget
  // before loading (ModelCache's pre-load check).
  std::shared_ptr<void> cached(const ModelHandle& model, const std::string& component, Residency residency,
                               const std::function<ModelCache::Loaded()>& build);
  template <typename T>
  std::shared_ptr<T> cached_as(const ModelHandle& model, const std::string& component,
                               const std::function<ModelCache::Loaded()>& build) {
    return std::static_pointer_cast<T>(cached(model, component, Residency::kResident, build));
  }
  template <typename T>
  std::shared_ptr<T> cached_as(const ModelHandle& model, const std::string& component, Residency residency,
                               const std::function<ModelCache::Loaded()>& build) {
    return std::static_pointer_cast<T>(cached(model, component, residency, build));
  }
  // Bytes `component` takes resident on this placement ("text_encoders": both; 0 when unknown).
  std::uint64_t resident_bytes(const ModelHandle& model, const std::string& component) const;

  const Placement& placement() const { return placement_; }
  const std::string& data_dir() const { return data_dir_; }
  const std::vector<std::string>& link_targets() const { return registry_.link_targets(); }

 private:
  std::string key(const ModelHandle& model, const std::string& component) const;
  mutable std::mutex facts_mutex_;  // guards facts_ (planning runs on compute threads)
  mutable std::map<std::string, ComponentFacts> facts_;
  void remember(const std::string& key, const ModelHandle& handle) const;

  ModelRegistry registry_;
  Placement placement_;
  std::string device_name_;
  std::string data_dir_;
  std::shared_ptr<ModelCache> cache_;
  mutable std::mutex handles_mutex_;  // guards handles_ (any thread may open)
  mutable std::map<std::string, ModelHandle> handles_;  // canonical path|config_from -> kind etc.
};

// Runs `build` for the model a request field named; a failure reading its files names that
// field (the file and the key stay in the message), never a file path or nothing.
template <typename Build>
auto for_field(const ModelHandle& model, Build build) -> decltype(build()) {
  try {
    return build();
  } catch (const Error& e) {
    if (e.field() == model.field) throw;
    throw e.with_field(model.field);
  }
}

// A built module and its bytes, as the cache stores it.
template <typename Module>
ModelCache::Loaded cached_module(Module module) {
  const auto bytes = static_cast<std::uint64_t>(module_bytes(*module.ptr()));
  return {std::make_shared<Module>(std::move(module)), bytes};
}

// A network built lean (no compute-dtype weights while constructing) with its weights as the
// source's tensors in their stored dtype: what a WeightStream parks. `build` is build_unet etc.
template <typename Build>
auto build_streamed(const ComponentSource& source, Build build) {
  const LeanConstruction lean;
  return build(source, Placement{stored_dtype(source), c10::kCPU});
}

// A streamed network and its WeightStream, as the cache stores it: the bytes are what stays in
// memory at rest (parked tensors outside file mappings).
template <typename Module>
ModelCache::Loaded streamed_module(Module module, const Placement& compute) {
  struct Owner {
    Module module;
    std::unique_ptr<WeightStream> stream;
  };
  auto owner = std::make_shared<Owner>(Owner{std::move(module), nullptr});
  owner->stream = std::make_unique<WeightStream>(*owner->module.ptr(), compute, compute.device.is_cuda());
  const auto bytes = owner->stream->resting_bytes();
  return {std::shared_ptr<void>(owner, &owner->module), bytes};
}

// The data folder of this build (tokenizers and configs for single-file checkpoints):
// $SDXL_WORKERS_DATA_DIR, else the source tree's data/.
std::string default_data_dir();

}  // namespace workers
