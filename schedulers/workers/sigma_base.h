// Shared state of the k-diffusion style samplers (Euler, Euler a, Heun, KDPM2, KDPM2 a, LMS,
// DPM++ SDE): float32 training sigmas, the spaced float timesteps, interpolated / Karras /
// exponential inference sigmas, init_noise_sigma, input scaling and add_noise, all as diffusers
// computes them (scalars in float32). Internal to schedulers/workers.
#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>

#include "schedulers/schedule.h"
#include "schedulers/scheduler.h"

namespace workers {

class SigmaBase : public Scheduler {
 public:
  double init_noise_sigma() const override;
  at::Tensor scale_model_input(const at::Tensor& sample, double timestep) override;
  at::Tensor add_noise(const at::Tensor& original, const at::Tensor& noise, double timestep) const override;

 protected:
  struct Options {
    bool zero_snr = false;           // rescale_betas_zero_snr is a key of the class
    bool exponential = true;         // use_exponential_sigmas is accepted
    schedule::BetaDefaults betas{};  // class defaults
  };
  SigmaBase(const SchedulerConfig& config, const Options& options);

  // Timesteps for `steps` by timestep_spacing (float32 values).
  std::vector<double> spaced_timesteps(std::int64_t steps) const;
  // Interpolated sigmas at those timesteps (float64, numpy.interp).
  std::vector<double> interpolated(const std::vector<double>& timesteps) const;
  // Replaces sigmas (and timesteps) by the Karras / exponential ramp when configured.
  // `round_timesteps`: KDPM2-style rounding of the derived timesteps.
  void apply_ramp(std::int64_t steps, std::vector<double>& timesteps, std::vector<double>& sigmas,
                  bool round_timesteps, double sigma_min = 0, double sigma_max = 0) const;
  // check_steps, spaced timesteps, interpolated sigmas, the configured ramp, and a final 0.
  void base_schedule(std::int64_t steps, std::vector<double>& timesteps, std::vector<double>& sigmas,
                     bool round_timesteps = false) const;
  // Stores float32 sigmas and float32 (or float64 when `keep_double`) timesteps; resets the index.
  void store(const std::vector<double>& timesteps, const std::vector<double>& sigmas, bool keep_double = false);
  // Two model calls per step: [v0, v1, v1, ..., v_{n-2}, v_{n-2}, v_{n-1}].
  static std::vector<double> repeat_inner(const std::vector<double>& values);
  float sigma(std::int64_t index) const { return sigma_values_.at(static_cast<std::size_t>(index)); }
  void ensure_started(double timestep);
  at::Tensor x0_from(const at::Tensor& model_output, const at::Tensor& sample, float sigma_input) const;

  schedule::TrainSchedule train_;
  std::vector<double> train_sigmas_;  // float32 values, ascending
  std::vector<double> log_sigmas_;    // float32
  std::vector<float> sigma_values_;
  std::string prediction_type_;
  std::string spacing_;
  std::int64_t steps_offset_ = 0;
  bool use_karras_ = false;
  bool use_exponential_ = false;
  bool started_ = false;
};

}  // namespace workers
