#include "models/managers/file_lora_manager.h"

#include <filesystem>

#include "utilities/error.h"

namespace workers {

namespace fs = std::filesystem;

FileLoraManager::FileLoraManager(const std::vector<std::string>& roots, std::shared_ptr<ModelCache> cache,
                                 const std::vector<std::string>& link_targets)
    : registry_(roots,
                RegistryKind{"LoRA", "", "workers.instructors.model.lora_roots or SDXL_WORKERS_LORA_ROOTS",
                             /*search_subfolders=*/true},
                link_targets),
      cache_(std::move(cache)) {}

std::string FileLoraManager::resolve(const std::string& reference, const std::string& field) const {
  return registry_.resolve(reference, field).path;
}

std::string FileLoraManager::key(const std::string& path) const {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  const auto time = fs::last_write_time(path, ec).time_since_epoch().count();
  return path + "#lora@" + std::to_string(size) + "/" + std::to_string(time);
}

std::shared_ptr<const LoraAdapter> FileLoraManager::adapter(const std::string& reference, const std::string& field) {
  return adapter_at(resolve(reference, field), reference, field);
}

std::shared_ptr<const LoraAdapter> FileLoraManager::adapter_at(const std::string& path, const std::string& reference,
                                                           const std::string& field) {
  return cache_->get_as<const LoraAdapter>(key(path), path, "lora", [&] {
    auto adapter = std::make_shared<LoraAdapter>(read_lora_file(path, field));
    if (adapter->modules.empty()) {
      throw_invalid(field, reference + " holds no LoRA, LoHa or LoKr module (" +
                               std::to_string(adapter->unknown_keys.size()) + " keys, none of them adapter weights)");
    }
    return ModelCache::Loaded{adapter, adapter->bytes};
  });
}

}  // namespace workers
