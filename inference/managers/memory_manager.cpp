#include "inference/managers/memory_manager.h"

namespace workers {

CacheMemoryManager::CacheMemoryManager(std::shared_ptr<ModelCache> cache, std::shared_ptr<const LruBudgetEviction> policy)
    : cache_(std::move(cache)), policy_(std::move(policy)) {}

MemoryParts make_memory(std::uint64_t budget_bytes) {
  auto policy = std::make_shared<const LruBudgetEviction>(budget_bytes);
  auto cache = std::make_shared<ModelCache>(policy);
  return {cache, std::make_shared<CacheMemoryManager>(cache, policy)};
}

}  // namespace workers
