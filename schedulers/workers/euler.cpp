// EulerDiscreteScheduler (diffusers 0.30): linear or log-linear sigma interpolation, Karras or
// exponential sigmas, final sigma zero or sigma_min, continuous timesteps for v-prediction.
// Like diffusers 0.30 it draws one noise tensor per step (s_churn is 0, so it is not added).
#include <cmath>

#include "schedulers/workers/sigma_base.h"

namespace workers {
namespace {

class Euler : public SigmaBase {
 public:
  explicit Euler(const SchedulerConfig& c) : SigmaBase(c, {true, true, {}}) {
    log_linear_ = c.choice("interpolation_type", "linear", {"linear", "log_linear"}) == "log_linear";
    sigma_min_ = c.number("sigma_min", 0.0);
    sigma_max_ = c.number("sigma_max", 0.0);
    continuous_ = c.choice("timestep_type", "discrete", {"discrete", "continuous"}) == "continuous";
    final_zero_ = c.choice("final_sigmas_type", "zero", {"zero", "sigma_min"}) == "zero";
  }
  std::string class_name() const override { return "EulerDiscreteScheduler"; }

  void set_timesteps(std::int64_t steps) override {
    schedule::check_steps(steps, train_.steps);
    auto timesteps = spaced_timesteps(steps);
    std::vector<double> sigmas;
    if (log_linear_) {
      auto values = torch::linspace(log_sigmas_.back(), log_sigmas_.front(), steps + 1, torch::kFloat32).exp().to(torch::kFloat64);
      sigmas.assign(values.data_ptr<double>(), values.data_ptr<double>() + values.numel());
    } else {
      sigmas = interpolated(timesteps);
    }
    apply_ramp(steps, timesteps, sigmas, false, sigma_min_, sigma_max_);
    sigmas.push_back(final_zero_ ? 0.0 : train_sigmas_.front());
    if (continuous_ && prediction_type_ == "v_prediction") {
      timesteps.clear();
      for (std::size_t i = 0; i + 1 < sigmas.size(); ++i) timesteps.push_back(0.25 * std::log(static_cast<float>(sigmas[i])));
    }
    store(timesteps, sigmas);
  }

  StepResult step(const at::Tensor& model_output, double t, const at::Tensor& sample, at::Generator* generator) override {
    ensure_started(t);
    auto x = sample.to(torch::kFloat32);
    const float s = sigma(step_index_);
    step_noise(model_output, generator);  // diffusers 0.30 draws it even when unused
    auto x0 = x0_from(model_output, x, s);
    auto derivative = (x - x0) / s;
    const float dt = sigma(step_index_ + 1) - s;
    auto prev = (x + derivative * dt).to(model_output.scalar_type());
    ++step_index_;
    return {prev, x0};
  }

 private:
  bool log_linear_ = false, continuous_ = false, final_zero_ = true;
  double sigma_min_ = 0, sigma_max_ = 0;
};

}  // namespace

std::unique_ptr<Scheduler> make_euler(const SchedulerConfig& config) { return std::make_unique<Euler>(config); }

}  // namespace workers
