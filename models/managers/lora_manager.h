// LoraManager: finds LoRA / LyCORIS files under the configured LoRA roots (by name, by relative
// path, or by file name anywhere below a root, as A1111 does) and keeps them read and grouped in
// the shared ModelCache (component "lora"), so a stack used again is not read again. A file
// changed on disk (size or time) is read afresh.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "models/io/lora_format.h"
#include "models/io/model_registry.h"
#include "models/managers/model_cache.h"

namespace workers {

class LoraManager {
 public:
  LoraManager(const std::vector<std::string>& roots, ModelCache& cache,
              const std::vector<std::string>& link_targets = {});

  // The canonical path of `reference`; throws Error(INVALID_REQUEST / MODEL_NOT_FOUND, field).
  std::string resolve(const std::string& reference, const std::string& field) const;
  // The adapter, read on first use. Throws as resolve(), and read_lora_file's errors.
  std::shared_ptr<const LoraAdapter> adapter(const std::string& reference, const std::string& field);
  // The same for a path resolve() gave (`reference` names it in messages).
  std::shared_ptr<const LoraAdapter> adapter_at(const std::string& path, const std::string& reference,
                                                const std::string& field);
  // The cache key of the file as it is now (path, size and modification time).
  std::string key(const std::string& path) const;

 private:
  ModelRegistry registry_;
  ModelCache& cache_;
};

}  // namespace workers
