#include "models/managers/torch_controlnet_manager.h"

#include <filesystem>
#include <fstream>

#include <torch/torch.h>

#include "models/io/safetensors_file.h"
#include "models/io/single_file_checkpoint.h"

namespace workers {

namespace fs = std::filesystem;

TorchControlNetManager::TorchControlNetManager(const ModelConfig& config, std::shared_ptr<ComponentLoader> loader)
    : registry_(config.controlnet_roots,
                RegistryKind{"ControlNet", "config.json",
                             "workers.instructors.model.controlnet_roots or SDXL_WORKERS_CONTROLNET_ROOTS"},
                config.trusted_link_targets),
      loader_(std::move(loader)) {}

ModelHandle TorchControlNetManager::open(const std::string& reference, const std::string& field) const {
  const auto resolved = registry_.resolve(reference, field);
  if (resolved.layout == ModelLayout::kDiffusersFolder) {
    nlohmann::json config;
    try {
      std::ifstream in(fs::path(resolved.path) / "config.json");
      config = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
      throw Error(ErrorCode::kModelLoadError, resolved.path + "/config.json is not valid JSON: " + e.what(), field);
    }
    if (config.value("_class_name", "") != "ControlNetModel") {
      throw_invalid(field, reference + " is a " + config.value("_class_name", std::string("folder")) +
                               ", not a ControlNetModel");
    }
  }
  return ModelHandle{reference, resolved.path, resolved.layout, ModelKind::kControlNet, true, "", field};
}

std::shared_ptr<ControlNetModel> TorchControlNetManager::controlnet(const ModelHandle& model) {
  return loader_->cached_as<ControlNetModel>(model, "controlnet", [&] {
    const auto& placement = loader_->placement();
    if (model.layout == ModelLayout::kDiffusersFolder) {
      return cached_module(build_controlnet(component_folder_source(model.path), placement));
    }
    // NAME.config.json next to NAME.safetensors wins over the config inferred from the shapes
    // (for nets not shaped like SDXL's: head width, norm groups).
    const auto sidecar = fs::path(model.path).replace_extension(".config.json");
    std::error_code ec;
    const auto config = fs::is_regular_file(sidecar, ec) ? sidecar.string() : std::string();
    const auto file = SafetensorsFile::open(model.path);
    return cached_module(
        build_controlnet(component_source(load_single_file_controlnet(*file, config), model.path), placement));
  });
}

}  // namespace workers
