#include "models/managers/component_loader.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <torch/torch.h>

#include "models/io/diffusers_folder.h"
#include "models/io/single_file_checkpoint.h"
#include "utilities/error.h"
#include "utilities/path_roots.h"

namespace workers {
namespace {

namespace fs = std::filesystem;

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

ModelKind kind_of(CheckpointKind kind) {
  switch (kind) {
    case CheckpointKind::kSdxlRefiner: return ModelKind::kSdxlRefiner;
    case CheckpointKind::kSdxlInpaint: return ModelKind::kSdxlInpaint;
    case CheckpointKind::kSdxlBase: break;
  }
  return ModelKind::kSdxlBase;
}

// A diffusers folder's kind as sdxl_kind names it (the names status reports).
ModelKind kind_of(const std::string& name) {
  if (const auto kind = model_kind_from_string(name)) return *kind;
  throw Error(ErrorCode::kModelLoadError, "unknown model kind " + name);
}

}  // namespace

std::string default_data_dir() {
  if (const char* env = std::getenv("SDXL_WORKERS_DATA_DIR"); env && *env) return env;
  return SDXL_DATA_DIR;
}

ComponentLoader::ComponentLoader(const ModelConfig& config, const std::string& device, const std::string& dtype,
                                 std::string data_dir, std::shared_ptr<ModelCache> cache)
    : registry_(config.model_roots, RegistryKind{}, config.trusted_link_targets),
      placement_(placement_of(device, dtype)),
      device_name_(device),
      data_dir_(std::move(data_dir)),
      cache_(std::move(cache)) {}

void ComponentLoader::remember(const std::string& key, const ModelHandle& handle) const {
  std::lock_guard<std::mutex> lock(handles_mutex_);
  handles_[key] = handle;
}

ModelHandle ComponentLoader::open(const std::string& reference, const std::string& field,
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
  ModelHandle handle{reference, resolved.path, resolved.layout, ModelKind::kSdxlBase, true, configs, field};
  for_field(handle, [&] {
    if (resolved.layout == ModelLayout::kSingleFile) {
      handle.kind = kind_of(load_single_file(resolved.path, configs).kind);
      // stabilityai's refiner model_index.json says false; the base and inpainting models true.
      handle.force_zeros_for_empty_prompt = handle.kind != ModelKind::kSdxlRefiner;
    } else {
      const auto folder = DiffusersFolder::open(resolved.path);
      handle.kind = kind_of(sdxl_kind(folder));
      handle.force_zeros_for_empty_prompt = folder.model_index().value("force_zeros_for_empty_prompt", true);
    }
  });
  remember(handle_key, handle);
  return handle;
}

ModelHandle ComponentLoader::open_vae(const std::string& reference, const std::string& field) const {
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
      ModelHandle handle{reference, folder.string(), ModelLayout::kDiffusersFolder, ModelKind::kVae, true, "", field};
      remember(handle.path + "|", handle);  // so status names its kind and layout
      return handle;
    }
    throw;
  }
}

std::optional<ModelHandle> ComponentLoader::opened(const std::string& path) const {
  std::lock_guard<std::mutex> lock(handles_mutex_);
  std::optional<ModelHandle> found;
  for (const auto& [key, handle] : handles_) {
    if (handle.path == path) found = handle;
  }
  return found;
}

ComponentSource ComponentLoader::source(const ModelHandle& model, const std::string& component) const {
  if (model.kind == ModelKind::kVae) return component_folder_source(model.path);
  if (model.layout == ModelLayout::kDiffusersFolder) return component_source(model.path, component);
  // Opening maps the file and renames views (about 2 s for a full-size SDXL); the mapping is
  // released once the component is built.
  const auto checkpoint = load_single_file(model.path, model.config_from);
  const auto* converted = checkpoint.find(component);
  if (!converted) {
    throw Error(ErrorCode::kModelLoadError,
                model.path + " has no " + component + " (a " + std::string(to_string(model.kind)) + " checkpoint)");
  }
  return component_source(*converted, model.path);
}

std::string ComponentLoader::key(const ModelHandle& model, const std::string& component) const {
  // Configs from another folder build a different module from the same file.
  const std::string configs = model.config_from.empty() ? "" : "+" + model.config_from;
  return model.path + configs + "#" + component + "@" + device_name_ + "/" + dtype_name(placement_.dtype);
}

std::shared_ptr<void> ComponentLoader::cached(const ModelHandle& model, const std::string& component,
                                              const std::function<ModelCache::Loaded()>& build) {
  return for_field(model, [&] { return cache_->get(key(model, component), model.path, component, build); });
}

nlohmann::json ComponentLoader::scheduler_config(const ModelHandle& model) const {
  if (model.layout == ModelLayout::kDiffusersFolder && model.kind != ModelKind::kVae) {
    const auto folder = DiffusersFolder::open(model.path);
    if (folder.has_component("scheduler")) return folder.component("scheduler").config;
  }
  // Single-file checkpoints carry no scheduler: SDXL's published scheduler_config.json.
  return read_json(fs::path(data_dir_) / "sdxl" / "scheduler_config.json");
}

}  // namespace workers
