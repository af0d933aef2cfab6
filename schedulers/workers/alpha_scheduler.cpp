#include "schedulers/workers/alpha_scheduler.h"

#include <cmath>

namespace workers {

AlphaScheduler::AlphaScheduler(const SchedulerConfig& c, const std::string& default_spacing, bool allow_zero_snr)
    : train_(schedule::train_schedule(c, {}, allow_zero_snr)) {
  train_timesteps_ = train_.steps;
  prediction_type_ = c.choice("prediction_type", "epsilon", {"epsilon", "sample", "v_prediction"});
  spacing_ = c.choice("timestep_spacing", default_spacing, {"linspace", "leading", "trailing"});
  steps_offset_ = c.integer("steps_offset", 0, 0, train_.steps - 1);
}

double AlphaScheduler::acp(double timestep) const {
  auto i = static_cast<std::int64_t>(timestep);
  if (i < 0) i += train_.steps;
  return train_.acp[static_cast<std::size_t>(std::clamp<std::int64_t>(i, 0, train_.steps - 1))];
}

void AlphaScheduler::set_integer_timesteps(std::int64_t steps) {
  schedule::check_steps(steps, train_.steps);
  num_inference_steps_ = steps;
  timesteps_ = schedule::to_tensor(schedule::integer_timesteps(spacing_, steps, train_.steps, steps_offset_));
  step_index_ = first_step_index();
}

at::Tensor AlphaScheduler::predict_x0(const at::Tensor& model_output, const at::Tensor& sample,
                                      double alpha_prod) const {
  const double beta_prod = schedule::f32(1.0 - alpha_prod);
  if (prediction_type_ == "epsilon") return (sample - std::sqrt(beta_prod) * model_output) / std::sqrt(alpha_prod);
  if (prediction_type_ == "sample") return model_output;
  return std::sqrt(alpha_prod) * sample - std::sqrt(beta_prod) * model_output;
}

at::Tensor AlphaScheduler::add_noise(const at::Tensor& original, const at::Tensor& noise, double timestep) const {
  const double a = acp(timestep);
  return std::sqrt(a) * original + std::sqrt(schedule::f32(1.0 - a)) * noise;
}

}  // namespace workers
