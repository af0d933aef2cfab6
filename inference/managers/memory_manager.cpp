#include "inference/managers/memory_manager.h"

#include <malloc.h>

#include <algorithm>
#include <set>

#include "utilities/byte_size.h"
#include "utilities/error.h"
#include "utilities/logging.h"

namespace workers {
namespace {

NetworkSize size_of(const ComponentFacts& facts) { return {facts.parameters, facts.largest_unit, facts.root}; }

// Both text encoders as one network: the parameters and roots add up, the larger unit bounds.
NetworkSize text_size(const ModelResolver& resolver, const ModelHandle& model) {
  NetworkSize size = size_of(resolver.component_facts(model, "text_encoder_2"));
  if (model.kind != ModelKind::kSdxlRefiner) {
    const NetworkSize one = size_of(resolver.component_facts(model, "text_encoder"));
    size.parameters += one.parameters;
    size.root += one.root;
    size.largest_unit = std::max(size.largest_unit, one.largest_unit);
  }
  return size;
}

}  // namespace

std::string_view to_string(PressureLevel level) {
  switch (level) {
    case PressureLevel::kLow: return "low";
    case PressureLevel::kMedium: return "medium";
    case PressureLevel::kHigh: return "high";
    case PressureLevel::kCritical: return "critical";
  }
  return "low";
}

MemoryPressure pressure_of(const MemorySample& sample, std::uint64_t budget) {
  MemoryPressure p;
  p.used = sample.used;
  p.budget = budget > 0 ? budget : sample.used + sample.system_available;
  p.available = p.budget > sample.used ? p.budget - sample.used : 0;
  if (sample.system_available > 0) p.available = std::min(p.available, sample.system_available);
  const double free = p.budget > 0 ? static_cast<double>(p.available) / static_cast<double>(p.budget) : 1.0;
  p.level = free >= 0.30   ? PressureLevel::kLow
            : free >= 0.15 ? PressureLevel::kMedium
            : free >= 0.05 ? PressureLevel::kHigh
                           : PressureLevel::kCritical;
  return p;
}

PlanningMemoryManager::PlanningMemoryManager(std::shared_ptr<ModelCache> cache, MemorySettings settings,
                                             std::shared_ptr<MemoryProbe> probe)
    : cache_(std::move(cache)), settings_(std::move(settings)), probe_(std::move(probe)) {}

MemoryJob PlanningMemoryManager::job_shape(const JobPlan& plan) const {
  const GenerationRequest& r = plan.request;
  const ResolvedModels& models = *plan.models;
  MemoryJob job;
  job.width = r.width;
  job.height = r.height;
  if (r.hires) {
    job.hires_width = hires_size(r.width, r.hires->scale);
    job.hires_height = hires_size(r.height, r.hires->scale);
  }
  job.batch = 1;
  for (const auto& chunk : plan.chunks) job.batch = std::max(job.batch, chunk.size);
  job.cfg = r.guidance_scale > 1.0;
  const bool latent_hires = r.hires && r.hires->upscaler.rfind("Latent", 0) == 0;
  job.encodes_image = !r.init_image.empty() || (r.hires && !latent_hires);
  job.loras = !models.loras.empty();
  job.controlnets = static_cast<int>(models.controls.size());
  const auto unet = resolver_->component_facts(models.base, "unet");
  job.unet = UNetConfig::from_json(unet.config, models.base.path + " (unet)");
  job.unet_size = size_of(unet);
  job.text_size = text_size(*resolver_, models.base);
  const auto vae = resolver_->component_facts(models.vae, "vae");
  job.vae = VaeConfig::from_json(vae.config, models.vae.path + " (vae)");
  job.vae_size = size_of(vae);
  if (models.refiner) {
    job.refiner_unet_size = size_of(resolver_->component_facts(*models.refiner, "unet"));
    job.refiner_text_size = text_size(*resolver_, *models.refiner);
  }
  // An SDXL ControlNet is the UNet's encoder half (about 48 % of its parameters).
  job.controlnet_parameters = static_cast<std::uint64_t>(job.controlnets) * job.unet_size.parameters * 48 / 100;
  job.element = settings_.element;
  job.vae_element = settings_.element == 2 && job.vae.force_upcast ? 4 : settings_.element;
  return job;
}

MemoryPlan PlanningMemoryManager::plan(const JobPlan& job, MemoryRung from) {
  if (!resolver_ || !job.models) return {};
  std::set<std::string> own{job.models->base.path, job.models->vae.path};
  if (job.models->refiner) own.insert(job.models->refiner->path);
  MemoryRoom room;
  room.budget = settings_.budget;
  room.overhead = settings_.overhead;
  for (const auto& e : cache_->entries()) {
    if (e.in_use) {
      room.held_by_others += e.bytes;
    } else if (!own.count(e.model)) {
      room.evictable += e.bytes;
    }
  }
  const MemoryPlan plan = choose_plan(job_shape(job), room, from);
  if (plan.evict_cached) {
    // What this plan does not run with goes: other models, and this model's networks kept the
    // other way (a resident UNet when the plan streams it, and the reverse).
    const std::string residency = plan.streamed ? "streamed" : "resident";
    const auto freed = cache_->evict_idle([&](const CacheEntryInfo& e) {
      const bool network = e.component == "unet" || e.component == "text_encoders";
      return own.count(e.model) && (!network || e.residency == residency);
    });
    if (freed > 0) get_logger()->info("memory: evicted {} of idle cached components for the plan", format_bytes(freed));
  }
  get_logger()->info("memory plan for {}: {} (estimate {} of {} available, budget {})", job.request.request_id,
                     to_string(plan.rung), format_bytes(plan.estimate),
                     room.budget ? format_bytes(plan.available) : "unlimited",
                     room.budget ? format_bytes(room.budget) : "none");
  std::lock_guard<std::mutex> lock(mutex_);
  last_plan_ = plan;
  return plan;
}

void PlanningMemoryManager::recover() {
  const auto freed = cache_->evict_idle([](const CacheEntryInfo&) { return false; });
  if (probe_) probe_->release_caches();
  ::malloc_trim(0);  // glibc: give freed heap back, so the retry starts from what is really used
  get_logger()->info("memory: recovered after an out-of-memory error ({} of idle cached components dropped)",
                     format_bytes(freed));
}

MemoryPressure PlanningMemoryManager::pressure() {
  if (!probe_) return {};
  MemoryPressure p = pressure_of(probe_->sample(), settings_.budget);
  if (p.level >= PressureLevel::kHigh) {
    const auto freed = cache_->evict_idle([](const CacheEntryInfo&) { return false; });
    if (freed > 0) {
      ::malloc_trim(0);
      get_logger()->warn("memory pressure {}: evicted {} of idle cached models", to_string(p.level), format_bytes(freed));
      p = pressure_of(probe_->sample(), settings_.budget);
    }
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (p.level != level_) {
    const auto log = p.level >= PressureLevel::kHigh ? spdlog::level::warn : spdlog::level::info;
    get_logger()->log(log, "memory pressure {} -> {}: {} used of the {} budget, {} available", to_string(level_),
                      to_string(p.level), format_bytes(p.used), format_bytes(p.budget), format_bytes(p.available));
    level_ = p.level;
  }
  return p;
}

void PlanningMemoryManager::admit() {
  if (!probe_) return;
  MemoryPressure p = pressure();
  if (p.level != PressureLevel::kCritical) return;
  recover();
  p = pressure();
  if (p.level == PressureLevel::kCritical) {
    throw Error(ErrorCode::kOomError, "memory pressure is critical: " + format_bytes(p.used) + " in use of the " +
                                          format_bytes(p.budget) + " budget (" + format_bytes(p.available) +
                                          " available); new jobs are refused until memory frees, retry later");
  }
}

nlohmann::json PlanningMemoryManager::status() {
  const MemoryPressure p = pressure();
  nlohmann::json j = {{"budget_bytes", settings_.budget},
                      {"used_bytes", p.used},
                      {"available_bytes", p.available},
                      {"pressure", std::string(to_string(p.level))},
                      {"cached_bytes", cache_->bytes()}};
  if (probe_) j["peak_bytes"] = probe_->sample().peak;
  std::lock_guard<std::mutex> lock(mutex_);
  j["last_plan"] = last_plan_ ? to_json(*last_plan_) : nlohmann::json();
  return j;
}

MemoryParts make_memory(std::uint64_t budget_bytes, MemorySettings settings, std::shared_ptr<MemoryProbe> probe) {
  auto cache = std::make_shared<ModelCache>(std::make_shared<const LruBudgetEviction>(budget_bytes));
  return {cache, std::make_shared<PlanningMemoryManager>(cache, std::move(settings), std::move(probe))};
}

}  // namespace workers
