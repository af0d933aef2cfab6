#include "schedulers/workers/multistep_base.h"

#include <algorithm>
#include <cmath>

namespace workers {

MultistepBase::MultistepBase(const SchedulerConfig& c, bool zero_snr_key, bool has_spacing)
    : train_(schedule::train_schedule(c, {}, zero_snr_key)) {
  train_timesteps_ = train_.steps;
  if (zero_snr_key && c.flag("rescale_betas_zero_snr", false)) {
    // diffusers keeps the last alphas_cumprod away from 0 so sigma stays finite.
    train_.acp.back() = std::ldexp(1.0, -24);
    train_.alphas_cumprod[-1] = train_.acp.back();
  }
  train_sigmas_ = schedule::training_sigmas(train_.acp);
  log_sigmas_ = schedule::log_values(train_sigmas_);
  prediction_type_ = c.choice("prediction_type", "epsilon", {"epsilon", "sample", "v_prediction"});
  if (has_spacing) {
    spacing_ = c.choice("timestep_spacing", "linspace", {"linspace", "leading", "trailing"});
    steps_offset_ = c.integer("steps_offset", 0, 0, train_.steps - 1);
  }
  use_karras_ = c.flag("use_karras_sigmas", false);
  schedule::refuse_thresholding(c);
}

std::vector<double> MultistepBase::grid(std::int64_t n, std::int64_t last) const {
  std::vector<double> t;
  if (spacing_ == "linspace") {
    auto points = schedule::linspace(0, static_cast<double>(last - 1), n + 1);
    for (std::int64_t i = n; i >= 1; --i) t.push_back(schedule::round_half_even(points[static_cast<std::size_t>(i)]));
  } else if (spacing_ == "leading") {
    const auto ratio = last / (n + 1);
    for (std::int64_t i = n; i >= 1; --i) t.push_back(static_cast<double>(i * ratio + steps_offset_));
  } else {
    const double ratio = static_cast<double>(train_.steps) / static_cast<double>(n);
    for (double v : schedule::arange(static_cast<double>(last), 0, -ratio)) t.push_back(schedule::round_half_even(v) - 1);
  }
  return t;
}

std::int64_t MultistepBase::clipped_steps(double lambda_min_clipped) const {
  std::int64_t clipped = 0;
  for (double a : train_.acp) {
    const float alpha = std::sqrt(static_cast<float>(a)), sigma = std::sqrt(1.0f - static_cast<float>(a));
    if (std::log(alpha) - std::log(sigma) < lambda_min_clipped) ++clipped;
  }
  return clipped;
}

void MultistepBase::karras(std::int64_t n, std::vector<double>& timesteps, std::vector<double>& sigmas) const {
  sigmas = schedule::karras_sigmas(train_sigmas_.front(), train_sigmas_.back(), n);
  timesteps.clear();
  for (double s : sigmas) timesteps.push_back(schedule::round_half_even(schedule::sigma_to_t(s, log_sigmas_)));
}

std::vector<double> MultistepBase::sigmas_at(const std::vector<double>& timesteps) const {
  std::vector<double> out;
  for (double t : timesteps) out.push_back(schedule::interp_index(t, train_sigmas_));
  return out;
}

void MultistepBase::store(const std::vector<double>& timesteps, std::vector<double> sigmas, double sigma_last) {
  sigmas.push_back(sigma_last);
  sigma_values_.clear();
  for (double s : sigmas) sigma_values_.push_back(static_cast<float>(s));
  timesteps_ = schedule::to_tensor(timesteps);
  std::vector<double> as_double(sigma_values_.begin(), sigma_values_.end());
  sigmas_ = schedule::to_tensor(as_double);
  started_ = false;
  step_index_ = first_step_index();
}

AlphaSigma MultistepBase::alpha_sigma(std::int64_t index) const {
  const float sigma = sigma_values_.at(static_cast<std::size_t>(index));
  const float alpha = 1.0f / std::sqrt(sigma * sigma + 1.0f);
  const float sigma_t = sigma * alpha;
  return {alpha, sigma_t, std::log(alpha) - std::log(sigma_t)};
}

at::Tensor MultistepBase::to_x0(const at::Tensor& model_output, const at::Tensor& sample, const AlphaSigma& s) const {
  if (prediction_type_ == "epsilon") return (sample - s.sigma * model_output) / s.alpha;
  if (prediction_type_ == "sample") return model_output;
  return s.alpha * sample - s.sigma * model_output;
}

at::Tensor MultistepBase::to_epsilon(const at::Tensor& model_output, const at::Tensor& sample,
                                     const AlphaSigma& s) const {
  if (prediction_type_ == "epsilon") return model_output;
  if (prediction_type_ == "sample") return (sample - s.alpha * model_output) / s.sigma;
  return s.alpha * model_output + s.sigma * sample;
}

at::Tensor MultistepBase::dpm_update(const std::string& algorithm, bool heun, const AlphaSigma& t,
                                     const AlphaSigma& s, float h, const at::Tensor& x, const at::Tensor& D0,
                                     const at::Tensor& D1, const at::Tensor& noise) const {
  const bool second = D1.defined();
  if (algorithm == "dpmsolver++") {
    const float c = t.alpha * (std::exp(-h) - 1.0f);
    auto out = (t.sigma / s.sigma) * x - c * D0;
    if (!second) return out;
    return heun ? out + (t.alpha * ((std::exp(-h) - 1.0f) / h + 1.0f)) * D1 : out - (0.5f * c) * D1;
  }
  if (algorithm == "dpmsolver") {
    const float c = t.sigma * (std::exp(h) - 1.0f);
    auto out = (t.alpha / s.alpha) * x - c * D0;
    if (!second) return out;
    return heun ? out - (t.sigma * ((std::exp(h) - 1.0f) / h - 1.0f)) * D1 : out - (0.5f * c) * D1;
  }
  if (algorithm == "sde-dpmsolver++") {
    const float c = t.alpha * (1 - std::exp(-2.0f * h));
    auto out = (t.sigma / s.sigma * std::exp(-h)) * x + c * D0;
    if (second) {
      out = out + (heun ? (t.alpha * ((1.0f - std::exp(-2.0f * h)) / (-2.0f * h) + 1.0f)) * D1 : (0.5f * c) * D1);
    }
    return out + (t.sigma * std::sqrt(1.0f - std::exp(-2 * h))) * noise;
  }
  // sde-dpmsolver
  const float c = t.sigma * (std::exp(h) - 1.0f);
  auto out = (t.alpha / s.alpha) * x - 2.0f * c * D0;
  if (second) out = out - (heun ? 2.0f * (t.sigma * ((std::exp(h) - 1.0f) / h - 1.0f)) * D1 : c * D1);
  return out + (t.sigma * std::sqrt(std::exp(2 * h) - 1.0f)) * noise;
}

at::Tensor MultistepBase::add_noise(const at::Tensor& original, const at::Tensor& noise, double timestep) const {
  const std::int64_t index =
      begin_index_ < 0 ? index_for_timestep(timestep) : (started_ ? step_index_ : begin_index_);
  const auto s = alpha_sigma(index);
  return s.alpha * original + s.sigma * noise;
}

}  // namespace workers
