// The memory planner: a pure function from a job's shape, its networks' sizes and the budget to
// the cheapest MemoryPlan that fits (see memory_plan.h for the ladder). Estimates are built from
// the networks' configs: weights (parameters x element size), and per phase the activations at
// their peak (UNet skips, attention scores, GEGLU; VAE up-block feature maps and its mid-block
// attention), calibrated against full-size SDXL on a CPU (docs/architecture.md). Torch-free.
#pragma once

#include <cstdint>

#include "inference/managers/memory_plan.h"
#include "models/nn/nn_configs.h"

namespace workers {

struct NetworkSize {
  std::uint64_t parameters = 0;
  std::uint64_t largest_unit = 0;  // parameters of its largest streaming unit
  std::uint64_t root = 0;          // parameters outside every unit
};

struct MemoryJob {
  std::int64_t width = 1024;
  std::int64_t height = 1024;
  std::int64_t hires_width = 0;  // the hires fix's second pass (0: none)
  std::int64_t hires_height = 0;
  int batch = 1;  // images per denoising run (the largest chunk)
  bool cfg = true;
  bool encodes_image = false;  // img2img, inpainting, a pixel-space hires upscaler
  bool loras = false;          // merged in place: needs resident networks
  int controlnets = 0;
  UNetConfig unet;
  VaeConfig vae;
  NetworkSize unet_size;
  NetworkSize text_size;  // both encoders: parameters and root summed, the larger largest unit
  NetworkSize vae_size;
  NetworkSize refiner_unet_size;  // zero: no refiner
  NetworkSize refiner_text_size;
  std::uint64_t controlnet_parameters = 0;
  unsigned element = 4;      // bytes of the compute dtype
  unsigned vae_element = 4;  // the VAE's (fp32 when force_upcast)
};

struct MemoryRoom {
  std::uint64_t budget = 0;          // 0: no limit
  std::uint64_t held_by_others = 0;  // cached components other running jobs hold
  std::uint64_t evictable = 0;       // idle cached components this job does not use
  std::uint64_t overhead = 0;        // the process without models: libraries, buffers, allocator slack
};

// The estimate of `job` at `rung` (estimate, breakdown and the rung's switches; not checked).
MemoryPlan plan_at(const MemoryJob& job, const MemoryRoom& room, MemoryRung rung);
// Bytes of the budget a plan at `rung` may use.
std::uint64_t available_at(const MemoryRoom& room, MemoryRung rung);
// The first rung from `from` on whose estimate fits (rungs that change nothing for this job are
// skipped; offload and streaming are skipped for a LoRA stack). Throws Error(OOM_ERROR) saying
// what the cheapest plan needs and what is available when none fits, or when `from` is past the last.
MemoryPlan choose_plan(const MemoryJob& job, const MemoryRoom& room, MemoryRung from = MemoryRung::kResident);

// Activation peaks (bytes), exposed for the tests: a UNet call on `batch` latents of h x w with
// attention in `slice` (batch x head) slices (0: whole); a VAE decode / encode of `images`
// images of H x W pixels, on `tile`-pixel tiles (0: whole).
std::uint64_t unet_activation_bytes(const UNetConfig& unet, std::int64_t h, std::int64_t w, std::int64_t batch,
                                    std::int64_t slice, unsigned element);
std::uint64_t vae_decode_bytes(const VaeConfig& vae, std::int64_t height, std::int64_t width, std::int64_t images,
                               std::int64_t tile, unsigned element);
std::uint64_t vae_encode_bytes(const VaeConfig& vae, std::int64_t height, std::int64_t width, std::int64_t images,
                               std::int64_t tile, unsigned element);

}  // namespace workers
