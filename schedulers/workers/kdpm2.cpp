// KDPM2DiscreteScheduler and KDPM2AncestralDiscreteScheduler (diffusers 0.30): DPM-Solver-2 in
// k-diffusion form, the second model call at the log-midpoint sigma; the ancestral variant adds
// noise at sigma_up and, like diffusers 0.30, draws one noise tensor on every call.
#include <cmath>
#include <limits>

#include "schedulers/workers/sigma_base.h"

namespace workers {
namespace {

// torch.lerp(start, end, 0.5) = end - (end - start) * 0.5, in float32.
float log_midpoint(float start, float end) {
  const float a = std::log(start), b = std::log(end);
  return std::exp(b - (b - a) * 0.5f);
}

std::vector<double> interleave(const std::vector<double>& v) {
  std::vector<double> out{v.front()};
  for (std::size_t i = 1; i < v.size(); ++i) out.insert(out.end(), 2, v[i]);
  out.push_back(v.back());
  return out;
}

class Kdpm2 : public SigmaBase {
 public:
  Kdpm2(const SchedulerConfig& c, bool ancestral)
      : SigmaBase(c, {false, true, {0.00085, 0.012, "linear"}}), ancestral_(ancestral) {
    if (prediction_type_ == "sample") c.fail("prediction_type", "KDPM2 supports epsilon and v_prediction");
  }
  std::string class_name() const override {
    return ancestral_ ? "KDPM2AncestralDiscreteScheduler" : "KDPM2DiscreteScheduler";
  }
  int order() const override { return 2; }

  void set_timesteps(std::int64_t steps) override {
    std::vector<double> timesteps, sigmas;
    base_schedule(steps, timesteps, sigmas, true);
    const bool ramp = use_karras_ || use_exponential_;
    if (!ramp) {
      for (auto& t : timesteps) t = schedule::f32(t);
    }
    std::vector<float> S(sigmas.begin(), sigmas.end());
    const auto n = S.size();  // steps + 1
    const float nan = std::numeric_limits<float>::quiet_NaN();
    std::vector<float> I(n), up(n, 0.0f), down(n, 0.0f);
    if (!ancestral_) {
      I[0] = nan;
      for (std::size_t j = 1; j < n; ++j) I[j] = S[j] == 0.0f ? 0.0f : log_midpoint(S[j], S[j - 1]);
    } else {
      for (std::size_t j = 0; j < n; ++j) {
        const float next = j + 1 < n ? S[j + 1] : 0.0f;
        up[j] = std::sqrt(next * next * (S[j] * S[j] - next * next) / (S[j] * S[j]));
        down[j] = j + 1 < n ? std::sqrt(next * next - up[j] * up[j]) : 0.0f;
      }
      for (std::size_t j = 0; j < n; ++j) I[j] = j + 2 >= n ? 0.0f : log_midpoint(S[j], down[j]);
    }
    std::vector<double> Sd(S.begin(), S.end()), Id(I.begin(), I.end()), Ud(up.begin(), up.end()), Dd(down.begin(), down.end());
    interpol_ = to_floats(interleave(Id));
    up_ = to_floats(interleave(Ud));
    down_ = to_floats(interleave(Dd));
    // Midpoint timesteps: KDPM2 uses I[1..n-2], the ancestral variant I[0..n-3].
    std::vector<double> t{timesteps.front()};
    for (std::size_t i = 1; i < timesteps.size(); ++i) {
      const float mid = I[ancestral_ ? i - 1 : i];
      double ti = schedule::sigma_to_t(mid, log_sigmas_);
      if (!ramp) ti = schedule::f32(ti);
      t.push_back(ti);
      t.push_back(timesteps[i]);
    }
    store(t, interleave(Sd), ramp);
    cached_ = at::Tensor();
  }

  at::Tensor scale_model_input(const at::Tensor& sample, double timestep) override {
    ensure_started(timestep);
    float s = first_order() ? sigma(step_index_) : interpol(ancestral_ ? step_index_ - 1 : step_index_);
    return sample / std::sqrt(s * s + 1.0f);
  }

  StepResult step(const at::Tensor& model_output, double t, const at::Tensor& sample, at::Generator* generator) override {
    ensure_started(t);
    const auto k = step_index_;
    const bool first = first_order();
    at::Tensor noise;
    if (ancestral_) noise = step_noise(model_output, generator);
    // The ancestral variant's midpoint table is shifted by one and ends at sigma_down + noise.
    const float s = first ? sigma(k) : sigma(k - 1);
    const float mid = ancestral_ ? (first ? interpol(k) : interpol(k - 1)) : (first ? interpol(k + 1) : interpol(k));
    auto x0 = x0_from(model_output, sample, first ? s : mid);
    at::Tensor prev;
    if (first) {
      cached_ = sample;
      prev = sample + (sample - x0) / s * (mid - s);
    } else {
      const auto derivative = (sample - x0) / mid;
      if (ancestral_) {
        const auto i = static_cast<std::size_t>(k - 1);
        prev = cached_ + derivative * (down_.at(i) - s) + noise * up_.at(i);
      } else {
        prev = cached_ + derivative * (sigma(k) - s);
      }
      cached_ = at::Tensor();
    }
    ++step_index_;
    return {prev, x0};
  }

 private:
  static std::vector<float> to_floats(const std::vector<double>& v) { return {v.begin(), v.end()}; }
  bool first_order() const { return !cached_.defined(); }
  float interpol(std::int64_t i) const { return interpol_.at(static_cast<std::size_t>(i)); }

  bool ancestral_;
  std::vector<float> interpol_, up_, down_;
  at::Tensor cached_;
};

}  // namespace

std::unique_ptr<Scheduler> make_kdpm2(const SchedulerConfig& config) { return std::make_unique<Kdpm2>(config, false); }
std::unique_ptr<Scheduler> make_kdpm2_ancestral(const SchedulerConfig& config) {
  return std::make_unique<Kdpm2>(config, true);
}

}  // namespace workers
