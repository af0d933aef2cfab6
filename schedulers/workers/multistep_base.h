// Shared state of the DPM-Solver family (DPM-Solver++ multistep and singlestep, UniPC, DEIS):
// the VP schedule written as sigmas, the integer timestep grid they use (n + 1 points, last
// dropped), Karras sigmas, alpha/sigma/lambda per step in float32 as diffusers computes them with
// 0-d tensors, model-output conversion and add_noise. Internal to schedulers/workers.
#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>

#include "schedulers/schedule.h"
#include "schedulers/scheduler.h"

namespace workers {

struct AlphaSigma {
  float alpha;
  float sigma;
  float lambda;  // log(alpha) - log(sigma)
};

class MultistepBase : public Scheduler {
 public:
  at::Tensor add_noise(const at::Tensor& original, const at::Tensor& noise, double timestep) const override;

 protected:
  // `zero_snr_key`: whether rescale_betas_zero_snr is a key of this class.
  MultistepBase(const SchedulerConfig& config, bool zero_snr_key, bool has_spacing = true);

  // §timestep grid: linspace / leading / trailing over [0, last_timestep).
  std::vector<double> grid(std::int64_t n, std::int64_t last_timestep) const;
  // Training steps whose log-SNR lambda is below lambda_min_clipped (cut from the grid's top).
  std::int64_t clipped_steps(double lambda_min_clipped) const;
  // Karras sigmas from the training range and their rounded timesteps.
  void karras(std::int64_t n, std::vector<double>& timesteps, std::vector<double>& sigmas) const;
  // Training sigmas at integer timesteps (numpy interp at integers = exact values).
  std::vector<double> sigmas_at(const std::vector<double>& timesteps) const;
  // Stores the schedule: sigmas (+ sigma_last) as float32, timesteps as int64-valued doubles.
  void store(const std::vector<double>& timesteps, std::vector<double> sigmas, double sigma_last);

  AlphaSigma alpha_sigma(std::int64_t index) const;
  at::Tensor to_x0(const at::Tensor& model_output, const at::Tensor& sample, const AlphaSigma& s) const;
  // DPM-Solver(++) update of `x` (at sigma `s`) to sigma `t`, h = lambda_t - lambda_s:
  // first order when D1 is undefined, else second order (midpoint or heun). `noise` is used by
  // the sde-* algorithms. Shared by the multistep and singlestep solvers (only their anchors differ).
  at::Tensor dpm_update(const std::string& algorithm, bool heun, const AlphaSigma& t, const AlphaSigma& s, float h,
                        const at::Tensor& x, const at::Tensor& D0, const at::Tensor& D1,
                        const at::Tensor& noise) const;
  at::Tensor to_epsilon(const at::Tensor& model_output, const at::Tensor& sample, const AlphaSigma& s) const;
  // Python index semantics: first use of step_index after set_timesteps.
  void begin_step() {
    if (!started_) {
      step_index_ = first_step_index();
      started_ = true;
    }
  }

  schedule::TrainSchedule train_;
  std::vector<double> train_sigmas_;  // float32 values, ascending with t
  std::vector<double> log_sigmas_;    // float32 log of train_sigmas_
  std::vector<float> sigma_values_;   // inference sigmas, float32
  std::string prediction_type_;
  std::string spacing_ = "linspace";
  std::int64_t steps_offset_ = 0;
  bool use_karras_ = false;
  bool started_ = false;
};

}  // namespace workers
