// Scheduler: the role every sampler implements, shaped like diffusers' scheduler API so a
// pipeline drives them all the same way: set_timesteps, scale_model_input, step, add_noise.
// A scheduler keeps per-run state (step index, history); set_timesteps resets it.
#pragma once

#include <cstdint>
#include <string>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

namespace workers {

struct StepResult {
  at::Tensor prev_sample;
  at::Tensor pred_original_sample;  // undefined where the family does not define it
};

// Which images of a larger batch a run holds: stochastic steps draw noise for `total` images and
// keep [offset, offset + batch), so a batch run in chunks draws what one run would.
struct NoiseWindow {
  std::int64_t offset = 0;
  std::int64_t total = 0;  // 0: the sample's own batch
};

class Scheduler {
 public:
  virtual ~Scheduler() = default;

  virtual std::string class_name() const = 0;
  // Builds the inference schedule for `steps` model evaluations' worth of steps and resets state.
  virtual void set_timesteps(std::int64_t steps) = 0;
  // Model timesteps in order (float64 holding diffusers' values, which are int64 or float32).
  const at::Tensor& timesteps() const { return timesteps_; }
  // Noise levels (float64; one more than the timesteps), undefined for families without them.
  const at::Tensor& sigmas() const { return sigmas_; }
  virtual double init_noise_sigma() const { return 1.0; }
  // Model input for the current step (the step index is tracked, as diffusers' _step_index).
  virtual at::Tensor scale_model_input(const at::Tensor& sample, double timestep) { (void)timestep; return sample; }
  // One step; `generator` (CPU) feeds the stochastic samplers, drawn in diffusers' order.
  virtual StepResult step(const at::Tensor& model_output, double timestep, const at::Tensor& sample,
                          at::Generator* generator) = 0;
  // Forward-noises `original` to `timestep` (img2img / inpainting).
  virtual at::Tensor add_noise(const at::Tensor& original, const at::Tensor& noise, double timestep) const = 0;
  // 2 for Heun/KDPM2 (two model calls per step), 1 otherwise.
  virtual int order() const { return 1; }
  // First step index to run (img2img: diffusers' set_begin_index(t_start * order)).
  void set_begin_index(std::int64_t index) { begin_index_ = index; }
  std::int64_t step_index() const { return step_index_; }
  std::int64_t num_train_timesteps() const { return train_timesteps_; }
  void set_noise_window(NoiseWindow window) { noise_window_ = window; }

 protected:
  // randn like `sample` from `generator` (CPU, moved to the sample's device), drawn through the
  // noise window: every stochastic step draws here.
  at::Tensor step_noise(const at::Tensor& sample, at::Generator* generator) const;
  std::int64_t first_step_index() const { return begin_index_ < 0 ? 0 : begin_index_; }
  // diffusers' index_for_timestep: the second match when a timestep repeats, the last index
  // when it is absent.
  std::int64_t index_for_timestep(double timestep) const;

  at::Tensor timesteps_;
  at::Tensor sigmas_;
  std::int64_t train_timesteps_ = 1000;  // the config's num_train_timesteps
  std::int64_t begin_index_ = -1;  // -1: not set (diffusers' None)
  std::int64_t step_index_ = 0;
  NoiseWindow noise_window_;
};

}  // namespace workers
