// DPMSolverSDEScheduler (diffusers "DPM++ SDE"): k-diffusion's sample_dpmpp_sde (eta 1, r 1/2),
// two model calls per step. diffusers draws its noise from a torchsde Brownian tree; here the
// same Brownian structure comes from the request's generator: stage 1 uses the increment over
// [sigma_mid, sigma_i], stage 2 the increment over [sigma_{i+1}, sigma_i], which contains it
// (z2 = (sqrt(s_i - s_m) z1 + sqrt(s_m - s_{i+1}) z') / sqrt(s_i - s_{i+1})).
#include <cmath>

#include "schedulers/workers/sigma_base.h"

namespace workers {
namespace {

class DpmSde : public SigmaBase {
 public:
  explicit DpmSde(const SchedulerConfig& c) : SigmaBase(c, {false, true, {0.00085, 0.012, "linear"}}) {
    if (prediction_type_ == "sample") c.fail("prediction_type", "DPM++ SDE supports epsilon and v_prediction");
    s_noise_ = c.number("s_noise", 1.0);
  }
  std::string class_name() const override { return "DPMSolverSDEScheduler"; }
  int order() const override { return 2; }

  void set_timesteps(std::int64_t steps) override {
    schedule::check_steps(steps, train_.steps);
    // The float64 grid, as diffusers keeps it for this scheduler.
    auto timesteps = schedule::float_timesteps(spacing_, steps, train_.steps, steps_offset_);
    auto sigmas = interpolated(timesteps);
    apply_ramp(steps, timesteps, sigmas, false);
    // Midpoint timesteps from the geometric means of consecutive sigmas (float64).
    std::vector<double> mids;
    for (std::size_t i = 0; i + 1 < sigmas.size(); ++i) {
      const double a = -std::log(sigmas[i]), b = -std::log(sigmas[i + 1]);
      mids.push_back(schedule::sigma_to_t(std::exp(-(a + (b - a) * 0.5)), log_sigmas_));
    }
    sigmas.push_back(0.0);
    const auto s = repeat_inner(sigmas);
    std::vector<double> t{timesteps.front()};
    for (std::size_t i = 1; i < timesteps.size(); ++i) {
      t.push_back(mids[i - 1]);
      t.push_back(timesteps[i]);
    }
    store(t, s, true);
    cached_ = at::Tensor();
    stage1_noise_ = at::Tensor();
  }

  at::Tensor scale_model_input(const at::Tensor& sample, double timestep) override {
    ensure_started(timestep);
    const float s = cached_.defined() ? mid_sigma_ : sigma(step_index_);
    return sample / std::sqrt(s * s + 1.0f);
  }

  StepResult step(const at::Tensor& model_output, double t, const at::Tensor& sample, at::Generator* generator) override {
    ensure_started(t);
    const bool first = !cached_.defined();
    const float s = first ? sigma(step_index_) : sigma(step_index_ - 1);
    const float next = first ? sigma(step_index_ + 1) : sigma(step_index_);
    auto sigma_fn = [](float v) { return std::exp(-v); };
    auto t_fn = [](float v) { return -std::log(v); };
    const float t_s = t_fn(s), t_next = t_fn(next);
    const float t_mid = t_s + (t_next - t_s) * 0.5f;
    const float input_sigma = first ? s : sigma_fn(t_mid);
    auto x0 = x0_from(model_output, sample, input_sigma);
    at::Tensor prev;
    if (next == 0.0f) {
      prev = sample + (sample - x0) / s * (next - s);
    } else {
      const float target = first ? t_mid : t_next;
      const auto& x = first ? sample : cached_;
      const float from = sigma_fn(t_s), to = sigma_fn(target);
      const float up = std::min(to, std::sqrt(to * to * (from * from - to * to) / (from * from)));
      const float down = std::sqrt(to * to - up * up);
      const float t_down = t_fn(down);
      prev = (sigma_fn(t_down) / sigma_fn(t_s)) * x - std::expm1(t_s - t_down) * x0;
      prev = prev + brownian_noise(x, generator, from, sigma_fn(t_mid), to, first) * (s_noise_ * up);
      if (first) {
        cached_ = sample;
        mid_sigma_ = sigma_fn(target);
      } else {
        cached_ = at::Tensor();
      }
    }
    ++step_index_;
    return {prev, x0};
  }

 private:
  // Standard-normal increment over [to, from] of one Brownian path per step.
  at::Tensor brownian_noise(const at::Tensor& like, at::Generator* generator, float from, float mid, float to, bool first) {
    if (first) {
      stage1_noise_ = step_noise(like, generator);
      return stage1_noise_;
    }
    auto independent = step_noise(like, generator);
    const double a = std::sqrt(static_cast<double>(from) - mid), b = std::sqrt(static_cast<double>(mid) - to);
    return (a * stage1_noise_ + b * independent) / std::sqrt(static_cast<double>(from) - to);
  }

  double s_noise_ = 1.0;
  float mid_sigma_ = 0;
  at::Tensor cached_, stage1_noise_;
};

}  // namespace

std::unique_ptr<Scheduler> make_dpm_sde(const SchedulerConfig& config) { return std::make_unique<DpmSde>(config); }

}  // namespace workers
