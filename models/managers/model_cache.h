// ModelCache: loaded model components kept for reuse. A component is loaded on first use; after
// each load the EvictionPolicy (the memory manager's decision) names what to drop; components a
// job holds are never dropped. Torch-free: entries are type-erased (the managers know the types).
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
  std::string residency = "resident";  // or "streamed" (weights parked, see weight_stream.h)
};

// The role that decides what leaves the cache after a load.
class EvictionPolicy {
 public:
  virtual ~EvictionPolicy() = default;
  // Bytes the cache may hold (0: no limit).
  virtual std::uint64_t budget() const = 0;
  // Keys to drop, in order, given the entries (most recently used first, `in_use` set for
  // components a job holds) and their total bytes; never `keep` (just loaded) or one in use.
  virtual std::vector<std::string> victims(const std::vector<CacheEntryInfo>& most_recent_first,
                                           std::uint64_t total, const std::string& keep) const = 0;
};

// Least recently used components no job holds, until the total fits the budget.
class LruBudgetEviction : public EvictionPolicy {
 public:
  explicit LruBudgetEviction(std::uint64_t budget) : budget_(budget) {}
  std::uint64_t budget() const override { return budget_; }
  std::vector<std::string> victims(const std::vector<CacheEntryInfo>& most_recent_first, std::uint64_t total,
                                   const std::string& keep) const override;

 private:
  std::uint64_t budget_;
};

class ModelCache {
 public:
  struct Loaded {
    std::shared_ptr<void> object;
    std::uint64_t bytes = 0;
  };
  using Loader = std::function<Loaded()>;

  // A null policy never evicts.
  explicit ModelCache(std::shared_ptr<const EvictionPolicy> policy) : policy_(std::move(policy)) {}

  // The cached object for `key`, or `load()`'s, cached. Loads run one at a time (under the lock),
  // so two jobs asking for the same component load it once. Loader errors propagate, nothing cached.
  // Pre-load check: with `expected_bytes` (what the load will add; 0: unknown), idle entries are
  // evicted first to make room, and a load that still cannot fit the budget is refused with
  // OOM_ERROR before `load` runs (before any weight is read).
  std::shared_ptr<void> get(const std::string& key, const std::string& model, const std::string& component,
                            const Loader& load, std::uint64_t expected_bytes = 0,
                            const std::string& residency = "resident");
  template <typename T>
  std::shared_ptr<T> get_as(const std::string& key, const std::string& model, const std::string& component,
                            const Loader& load) {
    return std::static_pointer_cast<T>(get(key, model, component, load));
  }
  // Drops every entry no job holds for which `keep` is false. Returns the bytes freed.
  std::uint64_t evict_idle(const std::function<bool(const CacheEntryInfo&)>& keep);
  // Drops every entry of `model` (a running job keeps its own references). Returns the count.
  std::size_t erase_model(const std::string& model);
  std::vector<CacheEntryInfo> entries() const;
  std::uint64_t bytes() const;
  std::uint64_t budget() const { return policy_ ? policy_->budget() : 0; }

 private:
  struct Entry {
    CacheEntryInfo info;
    std::shared_ptr<void> object;
  };
  void evict_locked(const std::string& keep, std::uint64_t incoming = 0);
  std::vector<CacheEntryInfo> entries_locked() const;

  const std::shared_ptr<const EvictionPolicy> policy_;
  // Guards entries_ (most recently used first) and total_; held while loading.
  mutable std::recursive_mutex mutex_;
  std::list<Entry> entries_;
  std::uint64_t total_ = 0;
};

}  // namespace workers
