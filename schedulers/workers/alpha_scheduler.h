// Shared state of the alphas_cumprod samplers (DDIM, DDPM, PNDM): the training schedule,
// integer timesteps, prediction type, and diffusers' add_noise. Internal to schedulers/workers.
#pragma once

#include <string>

#include <torch/torch.h>

#include "schedulers/schedule.h"
#include "schedulers/scheduler.h"

namespace workers {

class AlphaScheduler : public Scheduler {
 public:
  AlphaScheduler(const SchedulerConfig& config, const std::string& default_spacing, bool allow_zero_snr = true);

  at::Tensor add_noise(const at::Tensor& original, const at::Tensor& noise, double timestep) const override;

 protected:
  // alphas_cumprod at an integer timestep; negative indices wrap as Python's do.
  double acp(double timestep) const;
  void set_integer_timesteps(std::int64_t steps);
  // x0 from the model output for epsilon / sample / v_prediction.
  at::Tensor predict_x0(const at::Tensor& model_output, const at::Tensor& sample, double alpha_prod) const;

  schedule::TrainSchedule train_;
  std::string prediction_type_;
  std::string spacing_;
  std::int64_t steps_offset_ = 0;
  std::int64_t num_inference_steps_ = 0;
};

}  // namespace workers
