// ModelCache: loaded model components kept for reuse under a byte budget. A component is loaded on
// first use; when the total exceeds the budget the least recently used components that no job is
// holding are dropped. Torch-free: entries are type-erased (the managers above know the types).
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace workers {

struct CacheEntryInfo {
  std::string key;    // "<model path>#<component>@<placement>"
  std::string model;  // canonical model path
  std::string component;
  std::uint64_t bytes = 0;
  bool in_use = false;  // held by a running job
};

class ModelCache {
 public:
  struct Loaded {
    std::shared_ptr<void> object;
    std::uint64_t bytes = 0;
  };
  using Loader = std::function<Loaded()>;

  // budget_bytes 0: no limit.
  explicit ModelCache(std::uint64_t budget_bytes) : budget_(budget_bytes) {}

  // The cached object for `key`, or `load()`'s, cached. Loads run one at a time (under the lock),
  // so two jobs asking for the same component load it once. Loader errors propagate, nothing cached.
  std::shared_ptr<void> get(const std::string& key, const std::string& model, const std::string& component,
                            const Loader& load);
  template <typename T>
  std::shared_ptr<T> get_as(const std::string& key, const std::string& model, const std::string& component,
                            const Loader& load) {
    return std::static_pointer_cast<T>(get(key, model, component, load));
  }
  // Drops every entry of `model` (a running job keeps its own references). Returns the count.
  std::size_t erase_model(const std::string& model);
  std::vector<CacheEntryInfo> entries() const;
  std::uint64_t bytes() const;
  std::uint64_t budget() const { return budget_; }

 private:
  struct Entry {
    CacheEntryInfo info;
    std::shared_ptr<void> object;
  };
  void evict_locked(const std::string& keep);

  const std::uint64_t budget_;
  // Guards entries_ (most recently used first) and total_; held while loading.
  mutable std::recursive_mutex mutex_;
  std::list<Entry> entries_;
  std::uint64_t total_ = 0;
};

}  // namespace workers
