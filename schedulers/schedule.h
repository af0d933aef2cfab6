// The schedule maths every scheduler family shares, written to reproduce diffusers' numbers:
// training betas and alphas_cumprod (float32, as torch computes them), numpy's linspace / arange /
// round-half-even / interp, the three timestep spacings, sigmas, sigma -> timestep, and the
// Karras and exponential sigma ramps.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "schedulers/scheduler_config.h"

namespace workers::schedule {

struct TrainSchedule {
  std::int64_t steps = 1000;          // num_train_timesteps
  at::Tensor betas;                   // float32 [steps]
  at::Tensor alphas_cumprod;          // float32 [steps]
  std::vector<double> acp;            // alphas_cumprod values (float32-exact) for scalar maths
};

struct BetaDefaults {
  double beta_start = 0.0001;
  double beta_end = 0.02;
  std::string beta_schedule = "linear";
};

// num_train_timesteps, beta_start/end, beta_schedule (linear, scaled_linear, squaredcos_cap_v2),
// trained_betas, and rescale_betas_zero_snr when `allow_zero_snr`.
TrainSchedule train_schedule(const SchedulerConfig& config, const BetaDefaults& defaults = {},
                             bool allow_zero_snr = true);
at::Tensor rescale_zero_terminal_snr(const at::Tensor& betas);

// diffusers' clip_sample / clip_sample_range on the predicted x0 (DDIM, DDPM, Heun).
struct SampleClipping {
  bool enabled = false;
  double range = 1.0;
  SampleClipping() = default;
  SampleClipping(const SchedulerConfig& config, bool enabled_by_default);
  at::Tensor apply(const at::Tensor& x0) const;
};

// Dynamic thresholding works on pixel-space samples only: a config asking for it is refused.
void refuse_thresholding(const SchedulerConfig& config);

// Throws Error(INVALID_REQUEST, "steps") unless 1 <= steps <= train_steps.
void check_steps(std::int64_t steps, std::int64_t train_steps);

double round_half_even(double x);
inline double f32(double x) { return static_cast<double>(static_cast<float>(x)); }
std::vector<double> linspace(double start, double stop, std::int64_t n);  // numpy.linspace
std::vector<double> arange(double start, double stop, double step);      // numpy.arange (float step)
// numpy.interp(x, [0, 1, ..., fp.size()-1], fp)
double interp_index(double x, const std::vector<double>& fp);

// DDIM/DDPM/PNDM-style integer timesteps, descending: linspace, leading (+offset), trailing (-1).
std::vector<double> integer_timesteps(const std::string& spacing, std::int64_t n, std::int64_t train_steps,
                                      std::int64_t offset);
// Sigma-scheduler timesteps (float64, descending, unrounded for linspace), as Euler & co.
std::vector<double> float_timesteps(const std::string& spacing, std::int64_t n, std::int64_t train_steps,
                                    std::int64_t offset);

// ((1 - acp) / acp) ** 0.5 in float32, one per training step.
std::vector<double> training_sigmas(const std::vector<double>& acp);
std::vector<double> log_values(const std::vector<double>& values, bool float32 = true);
// diffusers' _sigma_to_t: fractional training timestep of `sigma` by log-linear interpolation.
double sigma_to_t(double sigma, const std::vector<double>& log_sigmas);
// Karras et al. ramp (rho = 7) from sigma_max to sigma_min over n values.
std::vector<double> karras_sigmas(double sigma_min, double sigma_max, std::int64_t n);
// Log-uniform ramp from sigma_max to sigma_min (diffusers' use_exponential_sigmas).
std::vector<double> exponential_sigmas(double sigma_min, double sigma_max, std::int64_t n);

at::Tensor to_tensor(const std::vector<double>& values);  // float64 CPU tensor
at::Tensor draw_noise(const at::Tensor& like, at::Generator* generator);  // randn on CPU, moved to like's device

}  // namespace workers::schedule
