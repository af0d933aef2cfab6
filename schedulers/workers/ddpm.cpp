// DDPMScheduler (diffusers 0.30): ancestral sampling with the fixed_small / fixed_large
// variances; noise is drawn whenever the current timestep is > 0, as diffusers does.
#include <cmath>

#include "schedulers/workers/alpha_scheduler.h"

namespace workers {
namespace {

class Ddpm : public AlphaScheduler {
 public:
  explicit Ddpm(const SchedulerConfig& c) : AlphaScheduler(c, "leading") {
    clipping_ = schedule::SampleClipping(c, true);
    variance_type_ = c.choice("variance_type", "fixed_small",
                              {"fixed_small", "fixed_small_log", "fixed_large", "fixed_large_log"});
    schedule::refuse_thresholding(c);
  }
  std::string class_name() const override { return "DDPMScheduler"; }
  void set_timesteps(std::int64_t steps) override { set_integer_timesteps(steps); }

  StepResult step(const at::Tensor& model_output, double t, const at::Tensor& sample, at::Generator* generator) override {
    const double prev_t = t - static_cast<double>(train_.steps / num_inference_steps_);
    const double a = acp(t);
    const double a_prev = prev_t >= 0 ? acp(prev_t) : 1.0;
    const double b = schedule::f32(1.0 - a), b_prev = schedule::f32(1.0 - a_prev);
    const double current_alpha = schedule::f32(a / a_prev), current_beta = schedule::f32(1.0 - current_alpha);
    auto x0 = predict_x0(model_output, sample, a);
    x0 = clipping_.apply(x0);
    const double x0_coeff = std::sqrt(a_prev) * current_beta / b;
    const double sample_coeff = std::sqrt(current_alpha) * b_prev / b;
    auto prev = x0_coeff * x0 + sample_coeff * sample;
    if (t > 0) {
      auto noise = step_noise(model_output, generator);
      double variance = std::max(b_prev / b * current_beta, 1e-20);
      double scale = std::sqrt(variance);
      if (variance_type_ == "fixed_small_log") scale = std::exp(0.5 * std::log(variance));
      if (variance_type_ == "fixed_large") scale = std::sqrt(current_beta);
      if (variance_type_ == "fixed_large_log") scale = std::sqrt(std::log(current_beta));
      prev = prev + scale * noise;
    }
    ++step_index_;
    return {prev, x0};
  }

 private:
  schedule::SampleClipping clipping_;
  std::string variance_type_;
};

}  // namespace

std::unique_ptr<Scheduler> make_ddpm(const SchedulerConfig& config) { return std::make_unique<Ddpm>(config); }

}  // namespace workers
