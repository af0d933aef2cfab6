// MemoryManager: the role that knows what is resident (cached model components and their bytes),
// the budget they share, and decides what leaves: LRU eviction of components no job holds when a
// load goes over the budget, and releases on unload requests. The memory planning of later work
// (offload, slicing, pressure levels) extends this role. Torch-free.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "models/managers/model_cache.h"

namespace workers {

class MemoryManager {
 public:
  virtual ~MemoryManager() = default;
  // Bytes all cached components may take together (0: no limit).
  virtual std::uint64_t budget() const = 0;
  virtual std::vector<CacheEntryInfo> resident() const = 0;
  // Drops every cached component of the model at `path` (a running job keeps its own
  // references). Returns how many were dropped.
  virtual std::size_t release(const std::string& path) = 0;
};

// The MemoryManager over the one ModelCache every model manager shares.
class CacheMemoryManager : public MemoryManager {
 public:
  explicit CacheMemoryManager(std::shared_ptr<ModelCache> cache) : cache_(std::move(cache)) {}
  std::uint64_t budget() const override { return cache_->budget(); }
  std::vector<CacheEntryInfo> resident() const override { return cache_->entries(); }
  std::size_t release(const std::string& path) override { return cache_->erase_model(path); }

 private:
  std::shared_ptr<ModelCache> cache_;
};

// A cache and its memory manager sharing one budget (bytes; 0: no limit).
struct MemoryParts {
  std::shared_ptr<ModelCache> cache;
  std::shared_ptr<CacheMemoryManager> memory;
};
MemoryParts make_memory(std::uint64_t budget_bytes);

}  // namespace workers
