#include "instructors/model_instructor.h"

#include <filesystem>

#include "utilities/error.h"

namespace workers {
namespace {

nlohmann::json to_json(const LoadedModel& m, const std::string& device) {
  return {{"model", m.reference}, {"component", m.component}, {"device", device}, {"bytes", m.bytes},
          {"path", m.path},       {"layout", m.layout},       {"kind", m.kind},     {"residency", m.residency}};
}

}  // namespace

ModelInstructor::ModelInstructor(ModelManagers managers, std::shared_ptr<MemoryManager> memory, ModelConfig config)
    : managers_(std::move(managers)), memory_(std::move(memory)), config_(std::move(config)) {}

bool ModelInstructor::available() const { return managers_.resolver != nullptr && memory_ != nullptr; }

void ModelInstructor::require() const {
  if (!available()) {
    throw Error(ErrorCode::kWorkerUnavailable,
                "model loading is not built into this version yet (no model manager); nothing was loaded");
  }
}

ModelHandle ModelInstructor::handle_of(const ModelReference& reference) const {
  if (reference.component == "lora") {
    return ModelHandle{reference.model, managers_.loras->resolve(reference.model, "model"), ModelLayout::kSingleFile,
                       ModelKind::kLora, true, "", "model"};
  }
  if (reference.component == "controlnet") return managers_.controlnets->open(reference.model, "model");
  if (reference.component == "vae") return managers_.resolver->open_vae(reference.model, "model");
  return managers_.resolver->open(reference.model, "model");
}

LoadedModel ModelInstructor::load(const ModelReference& reference) {
  require();
  const ModelHandle model = handle_of(reference);
  if (reference.component == "refiner" && model.kind != ModelKind::kSdxlRefiner) {
    throw_invalid("model", reference.model + " is an " + std::string(to_string(model.kind)) + " model, not a refiner");
  }
  // Each component goes to the manager of its resource.
  switch (model.kind) {
    case ModelKind::kLora:
      managers_.loras->adapter_at(model.path, reference.model, "model");
      break;
    case ModelKind::kControlNet:
      managers_.controlnets->controlnet(model);
      break;
    case ModelKind::kVae:
      managers_.vae->vae(model);
      break;
    case ModelKind::kSdxlBase:
    case ModelKind::kSdxlRefiner:
    case ModelKind::kSdxlInpaint:
      if (reference.component != "vae") {
        managers_.unet->unet(model);
        managers_.text_encoders->text_encoders(model);
      }
      managers_.vae->vae(model);
      break;
  }
  LoadedModel info;
  info.reference = reference.model;
  info.component = reference.component;
  info.path = model.path;
  info.layout = std::string(to_string(model.layout));
  info.kind = std::string(to_string(model.kind));
  for (const auto& e : memory_->resident()) {
    if (e.model == model.path) info.bytes += e.bytes;
  }
  return info;
}

bool ModelInstructor::unload(const ModelReference& reference) {
  require();
  return memory_->release(handle_of(reference).path) > 0;
}

std::vector<LoadedModel> ModelInstructor::loaded() const {
  std::vector<LoadedModel> out;
  if (!memory_) return out;
  for (const auto& e : memory_->resident()) {
    LoadedModel m;
    m.reference = std::filesystem::path(e.model).filename().string();
    m.component = e.component;
    m.bytes = e.bytes;
    m.path = e.model;
    m.residency = e.residency;
    if (e.component == "lora" || e.component == "controlnet") {  // no handle: named by the component
      m.kind = e.component;
      std::error_code ec;
      m.layout = e.component == "lora" || std::filesystem::is_regular_file(e.model, ec) ? "single_file" : "diffusers";
    }
    if (managers_.resolver) {
      if (const auto handle = managers_.resolver->opened(e.model)) {
        m.layout = std::string(to_string(handle->layout));
        m.kind = std::string(to_string(handle->kind));
      }
    }
    out.push_back(std::move(m));
  }
  return out;
}

nlohmann::json ModelInstructor::load_response(const ModelReference& reference) {
  const LoadedModel loaded_model = load(reference);  // first: it refuses when nothing is built
  return {{"loaded", to_json(loaded_model, managers_.resolver->device())}};
}

nlohmann::json ModelInstructor::unload_response(const ModelReference& reference) {
  const bool was_loaded = unload(reference);
  return {{"model", reference.model}, {"component", reference.component}, {"unloaded", was_loaded}};
}

void ModelInstructor::resolve(JobPlan& plan) const {
  require();
  const GenerationRequest& r = plan.request;
  ResolvedModels models;
  models.base = managers_.resolver->open(r.model.base, "model.base", r.model.config_from);
  if (models.base.kind == ModelKind::kSdxlRefiner) {
    throw_invalid("model.base", r.model.base + " is a refiner; name it as model.refiner with a base model");
  }
  if (!r.model.refiner.empty()) models.refiner = managers_.resolver->open(r.model.refiner, "model.refiner");
  models.vae = r.model.vae.empty() ? models.base : managers_.resolver->open_vae(r.model.vae, "model.vae");
  // The stack: enabled adapters with their effective weights (weight × lora_scale; zero drops one).
  for (std::size_t i = 0; i < r.loras.size(); ++i) {
    const auto& spec = r.loras[i];
    const double weight = spec.weight * r.lora_scale;
    if (!spec.enabled || weight == 0.0) continue;
    const std::string field = "loras[" + std::to_string(i) + "]";
    models.loras.push_back({spec.name, managers_.loras->resolve(spec.name, field + ".name"), weight, field});
  }
  for (std::size_t i = 0; i < r.controlnets.size(); ++i) {
    const auto& spec = r.controlnets[i];
    const std::string field = "controlnets[" + std::to_string(i) + "]";
    std::string reference = spec.model;
    if (reference.empty()) {
      auto it = config_.controlnet_models.find(spec.type);
      if (it == config_.controlnet_models.end()) {
        throw_invalid(field + ".type", "no ControlNet model is configured for type \"" + spec.type +
                                           "\" (workers.instructors.model.controlnet_models); name one as model");
      }
      reference = it->second;
    }
    ControlChoice control;
    control.model = managers_.controlnets->open(reference, field + ".model");
    control.image = spec.image.empty() ? r.init_image : spec.image;
    control.image_field = spec.image.empty() ? "init_image" : field + ".image";
    if (i >= plan.conditioning.control_preprocessors.size()) {
      throw Error(ErrorCode::kInternalError, "the job reached the model instructor without its conditioning decision");
    }
    control.preprocess = plan.conditioning.control_preprocessors[i];
    models.controls.push_back(std::move(control));
  }
  plan.models = std::move(models);
}

nlohmann::json ModelInstructor::status() const {
  nlohmann::json loaded_json = nlohmann::json::array();
  std::uint64_t bytes = 0;
  const std::string device = managers_.resolver ? managers_.resolver->device() : "";
  for (const auto& m : loaded()) {
    loaded_json.push_back(to_json(m, device));
    bytes += m.bytes;
  }
  return {{"available", available()},
          {"model_roots", config_.model_roots},
          {"lora_roots", config_.lora_roots},
          {"controlnet_roots", config_.controlnet_roots},
          {"cache_bytes", available() ? memory_->cache_budget() : config_.cache_bytes},
          {"loaded", loaded_json},
          {"loaded_bytes", bytes}};
}

}  // namespace workers
