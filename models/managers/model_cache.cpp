#include "models/managers/model_cache.h"

#include "utilities/byte_size.h"
#include "utilities/error.h"
#include "utilities/logging.h"

namespace workers {

std::shared_ptr<void> ModelCache::get(const std::string& key, const std::string& model, const std::string& component,
                                      const Loader& load, std::uint64_t expected_bytes, const std::string& residency) {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (it->info.key == key) {
      entries_.splice(entries_.begin(), entries_, it);
      return entries_.front().object;
    }
  }
  const std::uint64_t budget = policy_ ? policy_->budget() : 0;
  if (expected_bytes > 0 && budget > 0) {
    evict_locked("", expected_bytes);  // make room before reading anything
    if (total_ + expected_bytes > budget) {
      std::uint64_t held = 0;
      for (const auto& e : entries_locked()) held += e.bytes;
      throw Error(ErrorCode::kOomError,
                  "loading " + component + " of " + model + " needs " + format_bytes(expected_bytes) +
                      " but the memory budget is " + format_bytes(budget) + " and " + format_bytes(held) +
                      " are held by running jobs; nothing was loaded (raise workers.instructors.device.max_memory "
                      "or let jobs plan it streamed)");
    }
  }
  Loaded loaded = load();
  Entry entry{{key, model, component, loaded.bytes, false, residency}, std::move(loaded.object)};
  entries_.push_front(std::move(entry));
  total_ += loaded.bytes;
  evict_locked(key);
  return entries_.front().object;
}

std::vector<std::string> LruBudgetEviction::victims(const std::vector<CacheEntryInfo>& most_recent_first,
                                                   std::uint64_t total, const std::string& keep) const {
  std::vector<std::string> out;
  if (budget_ == 0) return out;
  for (auto it = most_recent_first.rbegin(); total > budget_ && it != most_recent_first.rend(); ++it) {
    if (it->key == keep || it->in_use) continue;
    out.push_back(it->key);
    total -= it->bytes;
  }
  return out;
}

void ModelCache::evict_locked(const std::string& keep, std::uint64_t incoming) {
  if (!policy_) return;
  for (const auto& key : policy_->victims(entries_locked(), total_ + incoming, keep)) {
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->info.key != key || key == keep || it->object.use_count() > 1) continue;
      get_logger()->info("model cache: evicting {} ({} MB) to stay within {} MB", key, it->info.bytes >> 20,
                         policy_->budget() >> 20);
      total_ -= it->info.bytes;
      entries_.erase(it);
      break;
    }
  }
  if (incoming == 0 && policy_->budget() != 0 && total_ > policy_->budget()) {
    get_logger()->warn("model cache: {} MB in use exceeds the {} MB budget (components held by jobs stay)",
                       total_ >> 20, policy_->budget() >> 20);
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

std::uint64_t ModelCache::evict_idle(const std::function<bool(const CacheEntryInfo&)>& keep) {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  std::uint64_t freed = 0;
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->object.use_count() > 1 || keep(it->info)) {
      ++it;
      continue;
    }
    get_logger()->info("model cache: evicting idle {} ({} MB) for the memory plan", it->info.key, it->info.bytes >> 20);
    freed += it->info.bytes;
    total_ -= it->info.bytes;
    it = entries_.erase(it);
  }
  return freed;
}

std::vector<CacheEntryInfo> ModelCache::entries() const {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  return entries_locked();
}

std::vector<CacheEntryInfo> ModelCache::entries_locked() const {
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
