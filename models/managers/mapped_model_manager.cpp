#include "models/managers/mapped_model_manager.h"

#include <filesystem>

#include "models/io/diffusers_folder.h"
#include "models/io/safetensors_file.h"
#include "models/io/single_file_checkpoint.h"
#include "utilities/error.h"

namespace workers {

MappedModelManager::MappedModelManager(const ModelConfig& config) : registry_(config.model_roots) {}

LoadedModel MappedModelManager::load(const ModelReference& reference) {
  if (reference.component != "base" && reference.component != "refiner") {
    throw Error(ErrorCode::kWorkerUnavailable, "loading " + reference.component +
                                                   " models is not built yet; base and refiner checkpoints load");
  }
  const auto resolved = registry_.resolve(reference.model);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = models_.find({reference.component, resolved.path});
    if (it != models_.end()) return it->second.info;
  }
  Entry entry;
  entry.info.reference = reference.model;
  entry.info.component = reference.component;
  entry.info.device = "cpu (memory-mapped)";
  entry.info.path = resolved.path;
  entry.info.layout = std::string(to_string(resolved.layout));
  if (resolved.layout == ModelLayout::kSingleFile) {
    auto checkpoint = std::make_shared<SingleFileCheckpoint>(load_single_file(resolved.path));
    entry.info.kind = std::string(to_string(checkpoint->kind));
    entry.info.bytes = std::filesystem::file_size(resolved.path);
    entry.files = checkpoint;
  } else {
    auto folder = DiffusersFolder::open(resolved.path);
    auto files = std::make_shared<std::vector<std::shared_ptr<const SafetensorsFile>>>();
    for (const char* component : {"unet", "vae", "text_encoder", "text_encoder_2"}) {
      if (!folder.has_component(component)) continue;
      for (const auto& file : folder.component(component).weight_files) {
        files->push_back(SafetensorsFile::open(file));
        entry.info.bytes += std::filesystem::file_size(file);
      }
    }
    entry.info.kind = sdxl_kind(folder);
    entry.files = files;
  }
  if (reference.component == "refiner" && entry.info.kind != "sdxl-refiner") {
    throw_invalid("model", reference.model + " is an " + entry.info.kind + " model, not a refiner");
  }
  std::lock_guard<std::mutex> lock(mutex_);
  auto [it, inserted] = models_.emplace(std::make_pair(reference.component, resolved.path), std::move(entry));
  return it->second.info;
}

bool MappedModelManager::unload(const ModelReference& reference) {
  const auto resolved = registry_.resolve(reference.model);
  std::lock_guard<std::mutex> lock(mutex_);
  return models_.erase({reference.component, resolved.path}) > 0;
}

std::vector<LoadedModel> MappedModelManager::loaded() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<LoadedModel> out;
  for (const auto& [key, entry] : models_) out.push_back(entry.info);
  return out;
}

}  // namespace workers
