#include "instructors/model_instructor.h"

#include "utilities/error.h"

namespace workers {
namespace {
nlohmann::json to_json(const LoadedModel& m) {
  return {{"model", m.reference}, {"component", m.component}, {"device", m.device}, {"bytes", m.bytes},
          {"path", m.path},       {"layout", m.layout},       {"kind", m.kind}};
}
}  // namespace

ModelInstructor::ModelInstructor(std::shared_ptr<ModelManager> manager, ModelConfig config)
    : manager_(std::move(manager)), config_(std::move(config)) {}

ModelManager& ModelInstructor::require() const {
  if (!manager_) {
    throw Error(ErrorCode::kWorkerUnavailable,
                "model loading is not built into this version yet (no model manager); nothing was loaded");
  }
  return *manager_;
}

nlohmann::json ModelInstructor::load(const ModelReference& reference) {
  return {{"loaded", to_json(require().load(reference))}};
}

nlohmann::json ModelInstructor::unload(const ModelReference& reference) {
  bool was_loaded = require().unload(reference);
  return {{"model", reference.model}, {"component", reference.component}, {"unloaded", was_loaded}};
}

nlohmann::json ModelInstructor::status() const {
  nlohmann::json loaded = nlohmann::json::array();
  std::uint64_t bytes = 0;
  if (manager_) {
    for (const auto& m : manager_->loaded()) {
      loaded.push_back(to_json(m));
      bytes += m.bytes;
    }
  }
  return {{"available", manager_ != nullptr},
          {"model_roots", config_.model_roots},
          {"lora_roots", config_.lora_roots},
          {"controlnet_roots", config_.controlnet_roots},
          {"cache_bytes", manager_ ? manager_->cache_budget() : config_.cache_bytes},
          {"loaded", loaded},
          {"loaded_bytes", bytes}};
}

}  // namespace workers
