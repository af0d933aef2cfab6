// MemoryPlan: how a job runs within the memory budget, as the memory manager's planner chose it
// before the job started: the rung of the ladder and the switches it sets. The pipeline applies
// it; the response's metadata and the log report it. Torch-free.
//
// The ladder, cheapest (fastest) first; each rung is tried only when the ones before it do not
// fit. Exact rungs give the all-resident run's pixels bit for bit; vae_tiling and batch_split
// do not (bounds in docs/architecture.md), so the streamed rung drops them again and
// streamed_tiled is the last resort with everything on.
//   resident          every network resident, other cached models kept
//   evict_cached      idle cached components of other models dropped first
//   attention_slicing + attention one (batch x head) slice at a time, VAE one image at a time
//   vae_tiling        + the VAE on overlapping 512-px tiles (diffusers' tiled decode/encode)
//   batch_split       + the batch one image at a time (same images, drawn for the whole batch)
//   offload           exact switches only; the networks stay parked (memory-mapped) and each is
//                     made resident whole only while its phase runs: text encoders, UNet, VAE
//   streamed          each layer converted just before it runs and parked after
//   streamed_tiled    streamed + vae_tiling + batch_split
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace workers {

enum class MemoryRung {
  kResident,
  kEvictCached,
  kAttentionSlicing,
  kVaeTiling,
  kBatchSplit,
  kOffload,
  kStreamed,
  kStreamedTiled,
};
constexpr int kMemoryRungs = 8;
std::string_view to_string(MemoryRung rung);

struct MemoryPlan {
  MemoryRung rung = MemoryRung::kResident;
  bool evict_cached = false;
  std::int64_t attention_slice = 0;  // 0: whole attention; n: n (batch x head) slices at a time
  bool vae_sliced = false;
  bool vae_tiled = false;
  std::int64_t vae_tile = 512;  // pixels a tile side, when tiled
  int max_chunk = 0;            // > 0: images per denoising run (the batch split)
  bool streamed = false;        // networks built streamed (parked weights)
  bool hold_components = false;  // offload: a network is made resident whole for its phase
  bool planned = false;         // false: no planning happened (no budget, or no model facts)
  std::uint64_t estimate = 0;   // bytes at the peak
  std::uint64_t budget = 0;
  std::uint64_t available = 0;  // of the budget, for this job when it was planned
  nlohmann::json breakdown = nlohmann::json::object();  // peak per phase, weights, overhead
};

nlohmann::json to_json(const MemoryPlan& plan);

}  // namespace workers
