#include "models/nn/networks.h"

#include <filesystem>
#include <fstream>

#include "models/io/diffusers_folder.h"
#include "models/io/single_file_checkpoint.h"
#include "utilities/error.h"

namespace workers {
namespace {

template <typename Holder>
Holder finish(Holder module, const ComponentSource& source, const Placement& placement,
              const std::vector<std::string>& ignored = {}) {
  load_weights(*module, source.tensors, source.what, placement.dtype, placement.device, ignored);
  module->eval();
  return module;
}

}  // namespace

Placement placement_of(const std::string& device, const std::string& dtype) {
  Placement placement;
  if (dtype == "float32" || dtype == "fp32") {
    placement.dtype = c10::kFloat;
  } else if (dtype == "float16" || dtype == "fp16") {
    placement.dtype = c10::kHalf;
  } else if (dtype == "bfloat16" || dtype == "bf16") {
    placement.dtype = c10::kBFloat16;
  } else {
    throw Error(ErrorCode::kConfigError, "unknown dtype \"" + dtype + "\" (float32, float16 or bfloat16)");
  }
  try {
    placement.device = c10::Device(device);
  } catch (const c10::Error&) {
    throw Error(ErrorCode::kConfigError, "unknown device \"" + device + "\" (cpu or cuda:N)");
  }
  return placement;
}

std::string dtype_name(c10::ScalarType dtype) {
  return dtype == c10::kHalf ? "float16" : dtype == c10::kBFloat16 ? "bfloat16" : "float32";
}

ComponentSource component_source(const ComponentFiles& component) {
  return {component.folder, component.config, read_component_tensors(component)};
}

ComponentSource component_source(const ConvertedComponent& component, const std::string& checkpoint_path) {
  return {checkpoint_path + " (" + component.name + ")", component.config, component.tensors};
}

ComponentSource component_source(const std::string& folder, const std::string& component) {
  return component_source(DiffusersFolder::open(folder).component(component));
}

ComponentSource component_folder_source(const std::string& component_folder) {
  const auto config_path = std::filesystem::path(component_folder) / "config.json";
  std::ifstream in(config_path);
  if (!in) throw Error(ErrorCode::kModelNotFound, component_folder + ": no config.json (not a model component folder)");
  ComponentFiles files;
  files.folder = component_folder;
  files.name = std::filesystem::path(component_folder).filename().string();
  try {
    files.config = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorCode::kModelLoadError, config_path.string() + ": not valid JSON: " + e.what());
  }
  files.weight_files = find_weight_files(component_folder, "", &files.variant);
  return component_source(files);
}

UNet2DConditionModel build_unet(const ComponentSource& source, const Placement& placement) {
  return finish(UNet2DConditionModel(UNetConfig::from_json(source.config, source.what + "/config.json")), source,
                placement);
}

ControlNetModel build_controlnet(const ComponentSource& source, const Placement& placement) {
  return finish(ControlNetModel(UNetConfig::controlnet_from_json(source.config, source.what + "/config.json")),
                source, placement);
}

AutoencoderKL build_vae(const ComponentSource& source, const Placement& placement) {
  return finish(AutoencoderKL(VaeConfig::from_json(source.config, source.what + "/config.json")), source, placement);
}

ClipTextModel build_clip_text(const ComponentSource& source, const Placement& placement) {
  return finish(ClipTextModel(ClipTextConfig::from_json(source.config, source.what + "/config.json")), source,
                placement, clip_ignored_keys());
}

}  // namespace workers
