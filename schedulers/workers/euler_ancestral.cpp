// EulerAncestralDiscreteScheduler (diffusers): Euler to sigma_down, then fresh noise at sigma_up
// (one draw per step, in diffusers' order). Karras and exponential sigmas as the other k-diffusion
// style schedulers compute them (A1111 runs k-diffusion's sample_euler_ancestral over any of its
// schedule types; diffusers 0.30's class has no such option, so this is an extension).
#include <cmath>

#include "schedulers/workers/sigma_base.h"

namespace workers {
namespace {

class EulerAncestral : public SigmaBase {
 public:
  explicit EulerAncestral(const SchedulerConfig& c) : SigmaBase(c, {true, true, {}}) {
    if (prediction_type_ == "sample") c.fail("prediction_type", "Euler a supports epsilon and v_prediction");
  }
  std::string class_name() const override { return "EulerAncestralDiscreteScheduler"; }

  void set_timesteps(std::int64_t steps) override {
    std::vector<double> timesteps, sigmas;
    base_schedule(steps, timesteps, sigmas);
    store(timesteps, sigmas);
  }

  StepResult step(const at::Tensor& model_output, double t, const at::Tensor& sample, at::Generator* generator) override {
    ensure_started(t);
    const float s = sigma(step_index_);
    auto x = sample.to(torch::kFloat32);
    auto x0 = x0_from(model_output, x, s);
    const float from = s, to = sigma(step_index_ + 1);
    const float up = std::sqrt(to * to * (from * from - to * to) / (from * from));
    const float down = std::sqrt(to * to - up * up);
    auto derivative = (x - x0) / s;
    auto prev = x + derivative * (down - s);
    prev = prev + step_noise(model_output, generator) * up;
    ++step_index_;
    return {prev.to(model_output.scalar_type()), x0};
  }
};

}  // namespace

std::unique_ptr<Scheduler> make_euler_ancestral(const SchedulerConfig& config) {
  return std::make_unique<EulerAncestral>(config);
}

}  // namespace workers
