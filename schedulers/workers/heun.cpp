// HeunDiscreteScheduler (diffusers): two model calls per step (sigmas and timesteps interleaved),
// the second averaging the derivatives; the last call is an Euler step to sigma 0.
#include <cmath>

#include "schedulers/workers/sigma_base.h"

namespace workers {
namespace {

class Heun : public SigmaBase {
 public:
  explicit Heun(const SchedulerConfig& c) : SigmaBase(c, {false, true, {0.00085, 0.012, "linear"}}) {
    clipping_ = schedule::SampleClipping(c, false);
  }
  std::string class_name() const override { return "HeunDiscreteScheduler"; }
  int order() const override { return 2; }

  void set_timesteps(std::int64_t steps) override {
    std::vector<double> timesteps, sigmas;
    base_schedule(steps, timesteps, sigmas);
    const auto s = repeat_inner(sigmas);
    std::vector<double> t{timesteps.front()};
    for (std::size_t i = 1; i < timesteps.size(); ++i) t.insert(t.end(), 2, timesteps[i]);
    store(t, s);
    first_order_ = true;
    prev_derivative_ = at::Tensor();
    cached_ = at::Tensor();
  }

  StepResult step(const at::Tensor& model_output, double t, const at::Tensor& sample, at::Generator*) override {
    ensure_started(t);
    const auto k = step_index_;
    const float s = first_order_ ? sigma(k) : sigma(k - 1);
    const float next = first_order_ ? sigma(k + 1) : sigma(k);
    auto x0 = x0_from(model_output, sample, first_order_ ? s : next);
    x0 = clipping_.apply(x0);
    at::Tensor prev;
    if (first_order_) {
      auto derivative = (sample - x0) / s;
      dt_ = next - s;
      prev_derivative_ = derivative;
      cached_ = sample;
      prev = sample + derivative * dt_;
    } else {
      auto derivative = (prev_derivative_ + (sample - x0) / next) / 2;
      prev = cached_ + derivative * dt_;
      prev_derivative_ = at::Tensor();
      cached_ = at::Tensor();
    }
    first_order_ = !first_order_;
    ++step_index_;
    return {prev, x0};
  }

 private:
  schedule::SampleClipping clipping_;
  bool first_order_ = true;
  float dt_ = 0;
  at::Tensor prev_derivative_, cached_;
};

}  // namespace

std::unique_ptr<Scheduler> make_heun(const SchedulerConfig& config) { return std::make_unique<Heun>(config); }

}  // namespace workers
