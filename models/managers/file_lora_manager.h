// FileLoraManager: the LoraManager over LoRA files in the configured roots, read with
// read_lora_file and cached in the shared ModelCache (component "lora"), keyed by path, size and time.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "models/io/lora_format.h"
#include "models/io/model_registry.h"
#include "models/managers/lora_manager.h"
#include "models/managers/model_cache.h"

namespace workers {

class FileLoraManager : public LoraManager {
 public:
  FileLoraManager(const std::vector<std::string>& roots, std::shared_ptr<ModelCache> cache,
                  const std::vector<std::string>& link_targets = {});

  std::string resolve(const std::string& reference, const std::string& field) const override;
  std::shared_ptr<const LoraAdapter> adapter_at(const std::string& path, const std::string& reference,
                                                const std::string& field) override;
  std::string key(const std::string& path) const override;
  // resolve() then adapter_at().
  std::shared_ptr<const LoraAdapter> adapter(const std::string& reference, const std::string& field);

 private:
  ModelRegistry registry_;
  std::shared_ptr<ModelCache> cache_;
};

}  // namespace workers
