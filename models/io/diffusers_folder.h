// DiffusersFolder: a diffusers model folder (model_index.json + one folder per component) resolved
// to each component's config and weight files: plain or `variant` files (".fp16"), single or
// sharded (*.safetensors.index.json). Torch-free: it finds files, SafetensorsFile reads them.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace workers {

struct ComponentFiles {
  std::string name;                       // unet, vae, text_encoder, ...
  std::string library;                    // from model_index.json, e.g. "diffusers"
  std::string class_name;                 // e.g. "UNet2DConditionModel"
  std::string folder;                     // absolute component folder
  nlohmann::json config;                  // config.json (or scheduler_config.json)
  std::vector<std::string> weight_files;  // one file, or every shard in index order
  std::string variant;                    // the variant actually used ("" = plain files)
};

class DiffusersFolder {
 public:
  // Reads model_index.json; throws Error(MODEL_NOT_FOUND) when `root` is not a diffusers folder.
  // `variant` ("fp16", ...): prefer those files; "" = plain files, or a variant when only one
  // variant exists for a component.
  static DiffusersFolder open(const std::string& root, std::string variant = "");

  const std::string& root() const { return root_; }
  const nlohmann::json& model_index() const { return model_index_; }
  // Components listed in model_index.json (entries of the form [library, class], class not null).
  std::vector<std::string> component_names() const;
  bool has_component(const std::string& name) const;
  // Throws Error(MODEL_LOAD_ERROR) listing every file it looked for.
  ComponentFiles component(const std::string& name) const;

 private:
  std::string root_;
  std::string variant_;
  nlohmann::json model_index_;
};

// sdxl-base, sdxl-refiner (no text_encoder) or sdxl-inpaint (9-channel UNet), from the folder.
std::string sdxl_kind(const DiffusersFolder& folder);

// Weight files of one component folder, by the rules above. Throws Error(MODEL_LOAD_ERROR).
std::vector<std::string> find_weight_files(const std::string& folder, const std::string& variant,
                                           std::string* variant_used = nullptr);

}  // namespace workers
