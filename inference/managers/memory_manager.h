// MemoryManager: the role that owns the memory budget of this worker's device. It knows what is
// resident (cached model components and their bytes) and decides what leaves (LRU eviction when
// a load goes over the budget, releases on unload requests); before each job it plans how the job
// runs within the budget (memory_plan.h: the ladder from everything resident to streamed weights),
// refusing up front a job no plan fits; after an out-of-memory error it frees what it can so the
// job can be retried one rung cheaper; it measures pressure (low / medium / high / critical from
// what the process uses against the budget), evicting idle models at high and refusing new jobs
// at critical. Torch-free.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "inference/managers/job_plan.h"
#include "inference/managers/memory_plan.h"
#include "inference/managers/memory_planner.h"
#include "models/managers/model_cache.h"
#include "models/managers/model_resolver.h"
#include "utilities/memory_probe.h"

namespace workers {

enum class PressureLevel { kLow, kMedium, kHigh, kCritical };
std::string_view to_string(PressureLevel level);

struct MemoryPressure {
  PressureLevel level = PressureLevel::kLow;
  std::uint64_t used = 0;       // what the process uses now
  std::uint64_t budget = 0;
  std::uint64_t available = 0;  // min(budget - used, what the system can still give)
};

// The level from a sample: the fraction of the budget still available, taking the system's own
// free memory into account (another process may be using what the budget allows):
// low >= 30 %, medium >= 15 %, high >= 5 %, critical below.
MemoryPressure pressure_of(const MemorySample& sample, std::uint64_t budget);

class MemoryManager {
 public:
  virtual ~MemoryManager() = default;
  // Bytes this worker may use on its device (0: no limit).
  virtual std::uint64_t budget() const = 0;
  // Bytes the model cache may hold (at most the budget; 0: no limit).
  virtual std::uint64_t cache_budget() const = 0;
  virtual std::vector<CacheEntryInfo> resident() const = 0;
  // Drops every cached component of the model at `path` (a running job keeps its own
  // references). Returns how many were dropped.
  virtual std::size_t release(const std::string& path) = 0;
  // The job's plan (plan.models resolved): the first rung from `from` on whose estimate fits,
  // with the cache made ready for it (idle components it evicts are dropped now). Throws
  // Error(OOM_ERROR) with what the cheapest plan needs when none fits (nothing was started).
  virtual MemoryPlan plan(const JobPlan& job, MemoryRung from) = 0;
  // After an out-of-memory error: drops idle cached components and allocator caches.
  virtual void recover() = 0;
  // Samples memory now; logs a change of level; at high evicts idle cached components.
  virtual MemoryPressure pressure() = 0;
  // Before a job is accepted: throws Error(OOM_ERROR) while pressure stays critical after
  // evicting what is idle.
  virtual void admit() = 0;
  // For status: budget, usage, level, the last plan.
  virtual nlohmann::json status() = 0;
};

struct MemorySettings {
  std::uint64_t budget = 0;  // 0: no limit (every job resident)
  // The process without models (libtorch, OpenCV, buffers, allocator slack), counted in every
  // estimate: full-size SDXL streamed at 512² on a CPU peaks at 1.76 GiB, of which the planner's
  // phases account for 1.1 GiB (docs/architecture.md, Memory).
  std::uint64_t overhead = 768ull << 20;
  unsigned element = 4;  // bytes of the compute dtype
};

// The MemoryManager over the one ModelCache every model manager shares, the ModelResolver's
// component facts (attached once the model managers exist) and a MemoryProbe.
class PlanningMemoryManager : public MemoryManager {
 public:
  PlanningMemoryManager(std::shared_ptr<ModelCache> cache, MemorySettings settings,
                        std::shared_ptr<MemoryProbe> probe = nullptr);
  void attach(std::shared_ptr<ModelResolver> resolver) { resolver_ = std::move(resolver); }

  std::uint64_t budget() const override { return settings_.budget; }
  std::uint64_t cache_budget() const override { return cache_->budget(); }
  std::vector<CacheEntryInfo> resident() const override { return cache_->entries(); }
  std::size_t release(const std::string& path) override { return cache_->erase_model(path); }
  MemoryPlan plan(const JobPlan& job, MemoryRung from) override;
  void recover() override;
  MemoryPressure pressure() override;
  void admit() override;
  nlohmann::json status() override;

  // The planner's view of a job (public for tests).
  MemoryJob job_shape(const JobPlan& job) const;

 private:
  std::shared_ptr<ModelCache> cache_;
  MemorySettings settings_;
  std::shared_ptr<MemoryProbe> probe_;
  std::shared_ptr<ModelResolver> resolver_;
  std::mutex mutex_;  // guards level_ and last_plan_
  PressureLevel level_ = PressureLevel::kLow;
  std::optional<MemoryPlan> last_plan_;
};

// A cache and its memory manager sharing one budget (bytes; 0: no limit).
struct MemoryParts {
  std::shared_ptr<ModelCache> cache;
  std::shared_ptr<PlanningMemoryManager> memory;
};
MemoryParts make_memory(std::uint64_t budget_bytes, MemorySettings settings = {},
                        std::shared_ptr<MemoryProbe> probe = nullptr);

}  // namespace workers
