#include "models/managers/torch_model_manager.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <torch/torch.h>

#include "models/io/diffusers_folder.h"
#include "models/io/safetensors_file.h"
#include "models/io/single_file_checkpoint.h"
#include "utilities/error.h"
#include "utilities/logging.h"
#include "utilities/path_roots.h"

namespace workers {
namespace {

namespace fs = std::filesystem;

c10::ScalarType parse_dtype(const std::string& dtype) {
  if (dtype == "float16") return c10::kHalf;
  if (dtype == "bfloat16") return c10::kBFloat16;
  return c10::kFloat;
}

std::string dtype_name(c10::ScalarType t) {
  return t == c10::kHalf ? "float16" : t == c10::kBFloat16 ? "bfloat16" : "float32";
}

nlohmann::json read_json(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw Error(ErrorCode::kModelLoadError, "cannot read " + path.string());
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorCode::kModelLoadError, path.string() + " is not valid JSON: " + e.what());
  }
}

bool is_vae_folder(const fs::path& folder) {
  std::error_code ec;
  if (!fs::is_regular_file(folder / "config.json", ec)) return false;
  return read_json(folder / "config.json").value("_class_name", "") == "AutoencoderKL";
}

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

template <typename Module>
ModelCache::Loaded cached_module(Module module) {
  const auto bytes = static_cast<std::uint64_t>(module_bytes(*module.ptr()));
  return {std::make_shared<Module>(std::move(module)), bytes};
}

}  // namespace

std::string default_data_dir() {
  if (const char* env = std::getenv("SDXL_WORKERS_DATA_DIR"); env && *env) return env;
  return SDXL_DATA_DIR;
}

TorchModelManager::TorchModelManager(const ModelConfig& config, const std::string& device, const std::string& dtype,
                                     std::string data_dir)
    : registry_(config.model_roots, RegistryKind{}, config.trusted_link_targets),
      controlnet_registry_(config.controlnet_roots,
                           RegistryKind{"ControlNet", "config.json",
                                        "workers.instructors.model.controlnet_roots or SDXL_WORKERS_CONTROLNET_ROOTS"},
                           config.trusted_link_targets),
      placement_{parse_dtype(dtype), c10::Device(device)},
      device_name_(device),
      data_dir_(std::move(data_dir)),
      cache_(config.cache_bytes),
      loras_(config.lora_roots, cache_, config.trusted_link_targets) {}

ModelHandle TorchModelManager::open(const std::string& reference, const std::string& field,
                                    const std::string& config_from) const {
  const auto resolved = registry_.resolve(reference, field);
  std::string configs;
  if (!config_from.empty()) {
    configs = registry_.resolve(config_from, "model.config_from").path;
    if (resolved.layout != ModelLayout::kSingleFile) {
      throw_invalid("model.config_from", "applies to single-file checkpoints; " + reference + " is a diffusers folder");
    }
  }
  const std::string handle_key = resolved.path + "|" + configs;
  {
    std::lock_guard<std::mutex> lock(handles_mutex_);
    auto it = handles_.find(handle_key);
    if (it != handles_.end()) {
      ModelHandle handle = it->second;
      handle.reference = reference;
      handle.field = field;
      return handle;
    }
  }
  ModelHandle handle{reference, resolved.path, resolved.layout, "", true, configs};
  handle.field = field;
  for_field(handle, [&] {
    if (resolved.layout == ModelLayout::kSingleFile) {
      handle.kind = std::string(to_string(load_single_file(resolved.path, configs).kind));
      // stabilityai's refiner model_index.json says false; the base and inpainting models true.
      handle.force_zeros_for_empty_prompt = handle.kind != "sdxl-refiner";
    } else {
      const auto folder = DiffusersFolder::open(resolved.path);
      handle.kind = sdxl_kind(folder);
      handle.force_zeros_for_empty_prompt = folder.model_index().value("force_zeros_for_empty_prompt", true);
    }
  });
  std::lock_guard<std::mutex> lock(handles_mutex_);
  handles_[handle_key] = handle;
  return handle;
}

ModelHandle TorchModelManager::open_vae(const std::string& reference, const std::string& field) const {
  try {
    return open(reference, field);
  } catch (const Error& e) {
    if (e.code() != ErrorCode::kModelNotFound) throw;
    // A bare VAE folder (config.json + weights) inside a root, contained by the same rules as
    // every request path.
    std::string config;
    try {
      config = resolve_input_file(registry_.roots(), reference + "/config.json", field, "model_roots");
    } catch (const Error&) {
      throw e;  // not a VAE folder either: the registry's answer says what was tried
    }
    const fs::path folder = fs::path(config).parent_path();
    check_tree_inside(folder.string(), registry_.roots(), registry_.link_targets(), field);
    if (is_vae_folder(folder)) {
      ModelHandle handle{reference, folder.string(), ModelLayout::kDiffusersFolder, "vae", true, ""};
      handle.field = field;
      std::lock_guard<std::mutex> lock(handles_mutex_);
      handles_[handle.path + "|"] = handle;  // so status names its kind and layout
      return handle;
    }
    throw;
  }
}

ModelHandle TorchModelManager::open_controlnet(const std::string& reference, const std::string& field) const {
  const auto resolved = controlnet_registry_.resolve(reference, field);
  if (resolved.layout == ModelLayout::kDiffusersFolder) {
    const auto config = read_json(fs::path(resolved.path) / "config.json");
    if (config.value("_class_name", "") != "ControlNetModel") {
      throw_invalid(field, reference + " is a " + config.value("_class_name", std::string("folder")) +
                               ", not a ControlNetModel");
    }
  }
  ModelHandle handle{reference, resolved.path, resolved.layout, "controlnet", true, ""};
  handle.field = field;
  return handle;
}

ComponentSource TorchModelManager::source(const ModelHandle& model, const std::string& component) const {
  if (model.kind == "vae") return component_folder_source(model.path);
  if (model.layout == ModelLayout::kDiffusersFolder) return component_source(model.path, component);
  // Opening maps the file and renames views (about 2 s for a full-size SDXL); the mapping is
  // released once the component is built.
  const auto checkpoint = load_single_file(model.path, model.config_from);
  const auto* converted = checkpoint.find(component);
  if (!converted) {
    throw Error(ErrorCode::kModelLoadError, model.path + " has no " + component + " (a " + model.kind + " checkpoint)");
  }
  return component_source(*converted, model.path);
}

std::string TorchModelManager::key(const ModelHandle& model, const std::string& component) const {
  // Configs from another folder build a different module from the same file.
  const std::string configs = model.config_from.empty() ? "" : "+" + model.config_from;
  return model.path + configs + "#" + component + "@" + device_name_ + "/" + dtype_name(placement_.dtype);
}

std::shared_ptr<UNet2DConditionModel> TorchModelManager::unet(const ModelHandle& model) {
  if (model.kind == "vae") throw_invalid(model.field, model.reference + " is a VAE, not an SDXL model");
  return for_field(model, [&] {
    return cache_.get_as<UNet2DConditionModel>(key(model, "unet"), model.path, "unet", [&] {
      return cached_module(build_unet(source(model, "unet"), placement_));
    });
  });
}

std::shared_ptr<ControlNetModel> TorchModelManager::controlnet(const ModelHandle& model) {
  return for_field(model, [&] { return controlnet_module(model); });
}

std::shared_ptr<ControlNetModel> TorchModelManager::controlnet_module(const ModelHandle& model) {
  return cache_.get_as<ControlNetModel>(key(model, "controlnet"), model.path, "controlnet", [&] {
    if (model.layout == ModelLayout::kDiffusersFolder) {
      return cached_module(build_controlnet(component_folder_source(model.path), placement_));
    }
    // NAME.config.json next to NAME.safetensors wins over the config inferred from the shapes
    // (for nets not shaped like SDXL's: head width, norm groups).
    const auto sidecar = fs::path(model.path).replace_extension(".config.json");
    std::error_code ec;
    const auto config = fs::is_regular_file(sidecar, ec) ? sidecar.string() : std::string();
    const auto file = SafetensorsFile::open(model.path);
    return cached_module(
        build_controlnet(component_source(load_single_file_controlnet(*file, config), model.path), placement_));
  });
}

std::shared_ptr<AutoencoderKL> TorchModelManager::vae(const ModelHandle& model) {
  return for_field(model, [&] {
    return cache_.get_as<AutoencoderKL>(key(model, "vae"), model.path, "vae", [&] {
      const auto src = source(model, "vae");
      // fp16 with force_upcast runs the VAE in fp32 (the SDXL VAE overflows in fp16).
      const auto dtype = vae_compute_dtype(VaeConfig::from_json(src.config, src.what), placement_.dtype);
      return cached_module(build_vae(src, Placement{dtype, placement_.device}));
    });
  });
}

std::shared_ptr<SdxlTextEncoders> TorchModelManager::text_encoders(const ModelHandle& model) {
  if (model.kind == "vae") throw_invalid(model.field, model.reference + " is a VAE, not an SDXL model");
  return for_field(model, [&] { return text_encoders_module(model); });
}

std::shared_ptr<SdxlTextEncoders> TorchModelManager::text_encoders_module(const ModelHandle& model) {
  return cache_.get_as<SdxlTextEncoders>(
      key(model, "text_encoders"), model.path, "text_encoders", [&] {
        auto encoders = std::make_shared<SdxlTextEncoders>();
        std::uint64_t bytes = 0;
        const bool refiner = model.kind == "sdxl-refiner";
        const bool folder = model.layout == ModelLayout::kDiffusersFolder;
        auto tokenizer_folder = [&](const std::string& name) {
          return folder ? (fs::path(model.path) / name).string() : (fs::path(data_dir_) / "tokenizers" / name).string();
        };
        if (!refiner) {
          encoders->text_encoder = build_clip_text(source(model, "text_encoder"), placement_);
          encoders->tokenizer = ClipTokenizer::load(tokenizer_folder("tokenizer"));
          bytes += module_bytes(*encoders->text_encoder);
        }
        encoders->text_encoder_2 = build_clip_text(source(model, "text_encoder_2"), placement_);
        encoders->tokenizer_2 = ClipTokenizer::load(tokenizer_folder("tokenizer_2"));
        bytes += module_bytes(*encoders->text_encoder_2);
        return ModelCache::Loaded{encoders, bytes};
      });
}

nlohmann::json TorchModelManager::scheduler_config(const ModelHandle& model) const {
  if (model.layout == ModelLayout::kDiffusersFolder && model.kind != "vae") {
    const auto folder = DiffusersFolder::open(model.path);
    if (folder.has_component("scheduler")) return folder.component("scheduler").config;
  }
  // Single-file checkpoints carry no scheduler: SDXL's published scheduler_config.json.
  return read_json(fs::path(data_dir_) / "sdxl" / "scheduler_config.json");
}

ModelHandle TorchModelManager::handle_of(const ModelReference& reference) const {
  if (reference.component == "lora") {
    return {reference.model, loras_.resolve(reference.model, "model"), ModelLayout::kSingleFile, "lora", true, ""};
  }
  if (reference.component == "controlnet") return open_controlnet(reference.model, "model");
  if (reference.component == "vae") return open_vae(reference.model, "model");
  return open(reference.model, "model");
}

LoadedModel TorchModelManager::load(const ModelReference& reference) {
  const ModelHandle model = handle_of(reference);
  if (reference.component == "refiner" && model.kind != "sdxl-refiner") {
    throw_invalid("model", reference.model + " is an " + model.kind + " model, not a refiner");
  }
  if (model.kind == "lora") {
    loras_.adapter_at(model.path, reference.model, "model");
  } else if (model.kind == "controlnet") {
    controlnet(model);
  } else {
    if (reference.component != "vae") {
      unet(model);
      text_encoders(model);
    }
    vae(model);
  }
  LoadedModel info;
  info.reference = reference.model;
  info.component = reference.component;
  info.device = device_name_;
  info.path = model.path;
  info.layout = std::string(to_string(model.layout));
  info.kind = model.kind;
  for (const auto& e : cache_.entries()) {
    if (e.model == model.path) info.bytes += e.bytes;
  }
  return info;
}

bool TorchModelManager::unload(const ModelReference& reference) {
  return cache_.erase_model(handle_of(reference).path) > 0;
}

std::vector<LoadedModel> TorchModelManager::loaded() const {
  std::vector<LoadedModel> out;
  for (const auto& e : cache_.entries()) {
    LoadedModel m;
    m.reference = fs::path(e.model).filename().string();
    m.component = e.component;
    m.device = device_name_;
    m.bytes = e.bytes;
    m.path = e.model;
    if (e.component == "lora" || e.component == "controlnet") {  // no handle: named by the component
      m.kind = e.component;
      m.layout = e.component == "lora" || fs::is_regular_file(e.model) ? "single_file" : "diffusers";
    }
    std::lock_guard<std::mutex> lock(handles_mutex_);
    for (const auto& [key, handle] : handles_) {
      if (handle.path != e.model) continue;
      m.layout = std::string(to_string(handle.layout));
      m.kind = handle.kind;
    }
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace workers
