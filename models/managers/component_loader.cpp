#include "models/managers/component_loader.h"

#include <cctype>
#include <cstdlib>
#include <map>
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

namespace {

// The streaming unit a tensor belongs to, from its diffusers name: the deepest
// "resnets.N" / "attentions.N" / "transformer_blocks.N" / "layers.N" / "downsamplers.N" /
// "upsamplers.N" / "attn1" / "attn2" / "ff" prefix ("" = the root), as WeightStream splits it.
std::string streaming_unit(const std::string& name) {
  static const char* kIndexed[] = {"resnets", "attentions", "transformer_blocks", "layers", "downsamplers", "upsamplers"};
  static const char* kNamed[] = {"attn1", "attn2", "ff"};
  std::size_t end = 0, start = 0;
  std::string previous;
  while (start < name.size()) {
    auto dot = name.find('.', start);
    if (dot == std::string::npos) break;  // the last part is the parameter's own name
    const std::string part = name.substr(start, dot - start);
    bool unit = false;
    for (const char* n : kNamed) unit = unit || part == n;
    if (!part.empty() && std::isdigit(static_cast<unsigned char>(part[0]))) {
      for (const char* n : kIndexed) unit = unit || previous == n;
    }
    if (unit) end = dot;
    previous = part;
    start = dot + 1;
  }
  return name.substr(0, end);
}

}  // namespace

ComponentFacts ComponentLoader::component_facts(const ModelHandle& model, const std::string& component) const {
  const std::string k = key(model, component);
  {
    std::lock_guard<std::mutex> lock(facts_mutex_);
    if (auto it = facts_.find(k); it != facts_.end()) return it->second;
  }
  const auto src = for_field(model, [&] { return source(model, component); });
  ComponentFacts facts;
  facts.config = src.config;
  std::map<std::string, std::uint64_t> units;
  for (const auto& [name, tensor] : src.tensors) {
    facts.stored_bytes += static_cast<std::uint64_t>(tensor.numel()) * tensor.element_size();
    if (!tensor.is_floating_point()) continue;
    const auto n = static_cast<std::uint64_t>(tensor.numel());
    facts.parameters += n;
    const auto unit = streaming_unit(name);
    if (unit.empty()) {
      facts.root += n;
    } else {
      units[unit] += n;
    }
  }
  for (const auto& [unit, n] : units) facts.largest_unit = std::max(facts.largest_unit, n);
  std::lock_guard<std::mutex> lock(facts_mutex_);
  facts_[k] = facts;
  return facts;
}

std::uint64_t ComponentLoader::resident_bytes(const ModelHandle& model, const std::string& component) const {
  auto bytes_of = [&](const std::string& part, c10::ScalarType dtype) {
    return component_facts(model, part).parameters * c10::elementSize(dtype);
  };
  if (component == "unet") return bytes_of("unet", placement_.dtype);
  if (component == "text_encoders") {
    return (model.kind == ModelKind::kSdxlRefiner ? 0 : bytes_of("text_encoder", placement_.dtype)) +
           bytes_of("text_encoder_2", placement_.dtype);
  }
  if (component == "vae") {
    const auto facts = component_facts(model, "vae");
    const auto dtype = vae_compute_dtype(VaeConfig::from_json(facts.config, model.path + " (vae)"), placement_.dtype);
    return facts.parameters * c10::elementSize(dtype);
  }
  return 0;
}

std::string ComponentLoader::key(const ModelHandle& model, const std::string& component) const {
  // Configs from another folder build a different module from the same file.
  const std::string configs = model.config_from.empty() ? "" : "+" + model.config_from;
  return model.path + configs + "#" + component + "@" + device_name_ + "/" + dtype_name(placement_.dtype);
}

std::shared_ptr<void> ComponentLoader::cached(const ModelHandle& model, const std::string& component,
                                              Residency residency, const std::function<ModelCache::Loaded()>& build) {
  const bool streamed = residency == Residency::kStreamed;
  const std::string k = key(model, component) + (streamed ? "~streamed" : "");
  return for_field(model, [&] {
    const bool base_component =
        model.kind != ModelKind::kControlNet && model.kind != ModelKind::kLora &&
        (component == "unet" || component == "text_encoders" || component == "vae");
    // Only a load that is not cached yet reads the headers for its size.
    std::uint64_t expected = 0;
    if (!streamed && base_component && cache_->budget() > 0) {
      bool cached_already = false;
      for (const auto& e : cache_->entries()) cached_already = cached_already || e.key == k;
      if (!cached_already) expected = resident_bytes(model, component);
    }
    return cache_->get(k, model.path, component, build, expected, std::string(to_string(residency)));
  });
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
