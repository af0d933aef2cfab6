// DDIMScheduler (diffusers): deterministic for eta = 0; the previous timestep is always
// t - T // N, as diffusers computes it.
#include <cmath>

#include "schedulers/workers/alpha_scheduler.h"

namespace workers {
namespace {

class Ddim : public AlphaScheduler {
 public:
  explicit Ddim(const SchedulerConfig& c) : AlphaScheduler(c, "leading") {
    clipping_ = schedule::SampleClipping(c, true);
    final_acp_ = c.flag("set_alpha_to_one", true) ? 1.0 : train_.acp.front();
    eta_ = c.number("eta", 0.0);
    schedule::refuse_thresholding(c);
    if (eta_ < 0) c.fail("eta", "must not be negative");
  }
  std::string class_name() const override { return "DDIMScheduler"; }
  void set_timesteps(std::int64_t steps) override { set_integer_timesteps(steps); }

  StepResult step(const at::Tensor& model_output, double t, const at::Tensor& sample, at::Generator* generator) override {
    const double prev_t = t - static_cast<double>(train_.steps / num_inference_steps_);
    const double a = acp(t);
    const double a_prev = prev_t >= 0 ? acp(prev_t) : final_acp_;
    const double b = schedule::f32(1.0 - a);
    auto x0 = predict_x0(model_output, sample, a);
    at::Tensor eps;
    if (prediction_type_ == "epsilon") {
      eps = model_output;
    } else if (prediction_type_ == "sample") {
      eps = (sample - std::sqrt(a) * x0) / std::sqrt(b);
    } else {
      eps = std::sqrt(a) * model_output + std::sqrt(b) * sample;
    }
    x0 = clipping_.apply(x0);
    const double b_prev = 1.0 - a_prev;
    const double variance = (b_prev / b) * (1.0 - a / a_prev);
    const double std_dev = eta_ * std::sqrt(variance);
    auto prev = std::sqrt(a_prev) * x0 + std::sqrt(1.0 - a_prev - std_dev * std_dev) * eps;
    if (eta_ > 0) prev = prev + std_dev * step_noise(model_output, generator);
    ++step_index_;
    return {prev, x0};
  }

 private:
  schedule::SampleClipping clipping_;
  double final_acp_ = 1.0;
  double eta_ = 0.0;
};

}  // namespace

std::unique_ptr<Scheduler> make_ddim(const SchedulerConfig& config) { return std::make_unique<Ddim>(config); }

}  // namespace workers
