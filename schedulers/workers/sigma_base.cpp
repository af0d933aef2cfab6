#include "schedulers/workers/sigma_base.h"

#include <algorithm>
#include <cmath>

namespace workers {

SigmaBase::SigmaBase(const SchedulerConfig& c, const Options& o) : train_(schedule::train_schedule(c, o.betas, o.zero_snr)) {
  train_timesteps_ = train_.steps;
  if (o.zero_snr && c.flag("rescale_betas_zero_snr", false)) {
    train_.acp.back() = std::ldexp(1.0, -24);
    train_.alphas_cumprod[-1] = train_.acp.back();
  }
  train_sigmas_ = schedule::training_sigmas(train_.acp);
  log_sigmas_ = schedule::log_values(train_sigmas_);
  prediction_type_ = c.choice("prediction_type", "epsilon", {"epsilon", "v_prediction", "sample"});
  spacing_ = c.choice("timestep_spacing", "linspace", {"linspace", "leading", "trailing"});
  steps_offset_ = c.integer("steps_offset", 0, 0, train_.steps - 1);
  use_karras_ = c.flag("use_karras_sigmas", false);
  use_exponential_ = o.exponential && c.flag("use_exponential_sigmas", false);
  if (use_karras_ && use_exponential_) c.fail("use_exponential_sigmas", "cannot be combined with use_karras_sigmas");
  if (c.flag("use_beta_sigmas", false)) c.fail("use_beta_sigmas", "beta sigmas are not supported");
}

std::vector<double> SigmaBase::spaced_timesteps(std::int64_t steps) const {
  auto t = schedule::float_timesteps(spacing_, steps, train_.steps, steps_offset_);
  for (auto& v : t) v = schedule::f32(v);
  return t;
}

std::vector<double> SigmaBase::interpolated(const std::vector<double>& timesteps) const {
  std::vector<double> out;
  for (double t : timesteps) out.push_back(schedule::interp_index(t, train_sigmas_));
  return out;
}

void SigmaBase::apply_ramp(std::int64_t steps, std::vector<double>& timesteps, std::vector<double>& sigmas,
                           bool round_timesteps, double sigma_min, double sigma_max) const {
  if (!use_karras_ && !use_exponential_) return;
  const double lo = sigma_min > 0 ? sigma_min : sigmas.back();
  const double hi = sigma_max > 0 ? sigma_max : sigmas.front();
  sigmas = use_karras_ ? schedule::karras_sigmas(lo, hi, steps) : schedule::exponential_sigmas(lo, hi, steps);
  timesteps.clear();
  for (double s : sigmas) {
    const double t = schedule::sigma_to_t(s, log_sigmas_);
    timesteps.push_back(round_timesteps ? schedule::round_half_even(t) : t);
  }
}

void SigmaBase::base_schedule(std::int64_t steps, std::vector<double>& timesteps, std::vector<double>& sigmas,
                              bool round_timesteps) const {
  schedule::check_steps(steps, train_.steps);
  timesteps = spaced_timesteps(steps);
  sigmas = interpolated(timesteps);
  apply_ramp(steps, timesteps, sigmas, round_timesteps);
  sigmas.push_back(0.0);
}

std::vector<double> SigmaBase::repeat_inner(const std::vector<double>& v) {
  std::vector<double> out{v.front()};
  for (std::size_t i = 1; i + 1 < v.size(); ++i) out.insert(out.end(), 2, v[i]);
  if (v.size() > 1) out.push_back(v.back());
  return out;
}

void SigmaBase::store(const std::vector<double>& timesteps, const std::vector<double>& sigmas, bool keep_double) {
  sigma_values_.clear();
  std::vector<double> as_double;
  for (double s : sigmas) {
    sigma_values_.push_back(static_cast<float>(s));
    as_double.push_back(static_cast<double>(sigma_values_.back()));
  }
  std::vector<double> t = timesteps;
  if (!keep_double) {
    for (auto& v : t) v = schedule::f32(v);
  }
  timesteps_ = schedule::to_tensor(t);
  sigmas_ = schedule::to_tensor(as_double);
  started_ = false;
  step_index_ = first_step_index();
}

double SigmaBase::init_noise_sigma() const {
  const float max_sigma = *std::max_element(sigma_values_.begin(), sigma_values_.end());
  if (spacing_ == "linspace" || spacing_ == "trailing") return max_sigma;
  return std::sqrt(max_sigma * max_sigma + 1.0f);
}

void SigmaBase::ensure_started(double timestep) {
  if (started_) return;
  step_index_ = begin_index_ < 0 ? index_for_timestep(timestep) : begin_index_;
  started_ = true;
}

at::Tensor SigmaBase::scale_model_input(const at::Tensor& sample, double timestep) {
  ensure_started(timestep);
  const float s = sigma(step_index_);
  return sample / std::sqrt(s * s + 1.0f);
}

at::Tensor SigmaBase::x0_from(const at::Tensor& model_output, const at::Tensor& sample, float s) const {
  if (prediction_type_ == "epsilon") return sample - s * model_output;
  if (prediction_type_ == "v_prediction") {
    return model_output * (-s / std::sqrt(s * s + 1.0f)) + (sample / (s * s + 1.0f));
  }
  return model_output;
}

at::Tensor SigmaBase::add_noise(const at::Tensor& original, const at::Tensor& noise, double timestep) const {
  const std::int64_t index =
      begin_index_ < 0 ? index_for_timestep(timestep) : (started_ ? step_index_ : begin_index_);
  return original + noise * sigma(index);
}

}  // namespace workers
