#include "inference/managers/memory_manager.h"

namespace workers {

MemoryParts make_memory(std::uint64_t budget_bytes) {
  auto cache = std::make_shared<ModelCache>(std::make_shared<const LruBudgetEviction>(budget_bytes));
  return {cache, std::make_shared<CacheMemoryManager>(cache)};
}

}  // namespace workers
