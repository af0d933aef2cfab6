// Which part of a schedule a run denoises: diffusers' SDXL pipelines cut the schedule for img2img
// (`strength`) and for the base/refiner ensemble of experts (`denoising_end` on the base,
// `denoising_start` on the refiner), and tell the scheduler where it starts (set_begin_index).
#pragma once

#include <cstdint>
#include <optional>

#include <ATen/core/Tensor.h>

#include "schedulers/scheduler.h"

namespace workers {

struct TimestepWindow {
  at::Tensor timesteps;        // the model calls to run, in order (float64 values)
  std::int64_t steps = 0;      // inference steps they amount to (diffusers' num_inference_steps)
  std::int64_t begin_index = 0;
};

// Calls scheduler.set_timesteps(steps), then applies, as diffusers does:
// - denoising_start (refiner; overrides strength): keep the timesteps below
//   round(T - start·T), one more for a second-order scheduler when the count is even;
// - else strength < 1 (img2img): skip the first steps - int(steps·strength) steps;
// - denoising_end (base): keep the timesteps >= round(T - end·T).
// Throws Error(INVALID_REQUEST) naming strength / denoising_start / denoising_end for values
// outside (0, 1] / (0, 1) / (0, 1), start >= end, or a window with no step left.
TimestepWindow select_timesteps(Scheduler& scheduler, std::int64_t steps, double strength = 1.0,
                                std::optional<double> denoising_start = std::nullopt,
                                std::optional<double> denoising_end = std::nullopt);

}  // namespace workers
