#include "models/managers/model_cache.h"

#include "utilities/logging.h"

namespace workers {

std::shared_ptr<void> ModelCache::get(const std::string& key, const std::string& model, const std::string& component,
                                      const Loader& load) {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (it->info.key == key) {
      entries_.splice(entries_.begin(), entries_, it);
      return entries_.front().object;
    }
  }
  Loaded loaded = load();
  Entry entry{{key, model, component, loaded.bytes, false}, std::move(loaded.object)};
  entries_.push_front(std::move(entry));
  total_ += loaded.bytes;
  evict_locked(key);
  return entries_.front().object;
}

void ModelCache::evict_locked(const std::string& keep) {
  if (budget_ == 0) return;
  for (auto it = entries_.end(); total_ > budget_ && it != entries_.begin();) {
    --it;
    if (it->info.key == keep || it->object.use_count() > 1) continue;
    get_logger()->info("model cache: evicting {} ({} MB) to stay within {} MB", it->info.key,
                       it->info.bytes >> 20, budget_ >> 20);
    total_ -= it->info.bytes;
    it = entries_.erase(it);
  }
  if (total_ > budget_) {
    get_logger()->warn("model cache: {} MB in use exceeds the {} MB budget (components held by jobs stay)",
                       total_ >> 20, budget_ >> 20);
  }
}

std::size_t ModelCache::erase_model(const std::string& model) {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  std::size_t erased = 0;
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->info.model == model) {
      total_ -= it->info.bytes;
      it = entries_.erase(it);
      ++erased;
    } else {
      ++it;
    }
  }
  return erased;
}

std::vector<CacheEntryInfo> ModelCache::entries() const {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  std::vector<CacheEntryInfo> out;
  for (const auto& e : entries_) {
    out.push_back(e.info);
    out.back().in_use = e.object.use_count() > 1;
  }
  return out;
}

std::uint64_t ModelCache::bytes() const {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  return total_;
}

}  // namespace workers
