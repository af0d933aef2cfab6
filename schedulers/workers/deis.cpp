// DEISMultistepScheduler (diffusers): DEIS with the log-rho polynomial extrapolation, orders
// 1-3; the final sigma is the training sigma_min (never zero), lower orders only below 15 steps.
#include <cmath>

#include "schedulers/workers/multistep_base.h"

namespace workers {
namespace {

class Deis : public MultistepBase {
 public:
  explicit Deis(const SchedulerConfig& c) : MultistepBase(c, false) {
    order_ = c.integer("solver_order", 2, 1, 3);
    c.choice("algorithm_type", "deis", {"deis", "dpmsolver", "dpmsolver++"});
    c.choice("solver_type", "logrho", {"logrho", "midpoint", "heun", "bh1", "bh2"});
    lower_order_final_ = c.flag("lower_order_final", true);
  }
  std::string class_name() const override { return "DEISMultistepScheduler"; }

  void set_timesteps(std::int64_t steps) override {
    schedule::check_steps(steps, train_.steps);
    std::vector<double> timesteps = grid(steps, train_.steps), sigmas;
    double last = train_sigmas_.front();
    if (use_karras_) {
      karras(steps, timesteps, sigmas);
      last = sigmas.back();
    } else {
      sigmas = sigmas_at(timesteps);
    }
    store(timesteps, sigmas, last);
    outputs_.assign(static_cast<std::size_t>(order_), at::Tensor());
    lower_order_nums_ = 0;
  }

  StepResult step(const at::Tensor& model_output, double, const at::Tensor& sample, at::Generator*) override {
    begin_step();
    const auto n = timesteps_.size(0);
    const bool lower_final = step_index_ == n - 1 && lower_order_final_ && n < 15;
    const bool lower_second = step_index_ == n - 2 && lower_order_final_ && n < 15;
    const auto s = alpha_sigma(step_index_);
    auto x0 = to_x0(model_output, sample, s);
    auto eps = (sample - s.alpha * x0) / s.sigma;  // diffusers round-trips epsilon through x0
    for (std::size_t i = 0; i + 1 < outputs_.size(); ++i) outputs_[i] = outputs_[i + 1];
    outputs_.back() = eps;
    at::Tensor prev;
    if (order_ == 1 || lower_order_nums_ < 1 || lower_final) {
      const auto t = alpha_sigma(step_index_ + 1);
      const float h = t.lambda - s.lambda;
      prev = (t.alpha / s.alpha) * sample - (t.sigma * (std::exp(h) - 1.0f)) * eps;
    } else if (order_ == 2 || lower_order_nums_ < 2 || lower_second) {
      prev = second_order(sample);
    } else {
      prev = third_order(sample);
    }
    if (lower_order_nums_ < order_) ++lower_order_nums_;
    ++step_index_;
    return {prev, x0};
  }

 private:
  const at::Tensor& m(int back) const { return outputs_[outputs_.size() - 1 - static_cast<std::size_t>(back)]; }
  float rho(std::int64_t index) const {
    const auto s = alpha_sigma(index);
    return s.sigma / s.alpha;
  }

  static float ind2(float t, float b, float c) {
    return t * (-std::log(c) + std::log(t) - 1) / (std::log(b) - std::log(c));
  }
  static float ind3(float t, float b, float c, float d) {
    const float lt = std::log(t), lc = std::log(c), ld = std::log(d), lb = std::log(b);
    const float numerator = t * (lc * (ld - lt + 1) - ld * lt + ld + lt * lt - 2 * lt + 2);
    return numerator / ((lb - lc) * (lb - ld));
  }

  at::Tensor second_order(const at::Tensor& x) const {
    const auto t = alpha_sigma(step_index_ + 1), s0 = alpha_sigma(step_index_);
    const float rt = rho(step_index_ + 1), r0 = rho(step_index_), r1 = rho(step_index_ - 1);
    const float c1 = ind2(rt, r0, r1) - ind2(r0, r0, r1);
    const float c2 = ind2(rt, r1, r0) - ind2(r0, r1, r0);
    return t.alpha * (x / s0.alpha + c1 * m(0) + c2 * m(1));
  }

  at::Tensor third_order(const at::Tensor& x) const {
    const auto t = alpha_sigma(step_index_ + 1), s0 = alpha_sigma(step_index_);
    const float rt = rho(step_index_ + 1), r0 = rho(step_index_), r1 = rho(step_index_ - 1), r2 = rho(step_index_ - 2);
    const float c1 = ind3(rt, r0, r1, r2) - ind3(r0, r0, r1, r2);
    const float c2 = ind3(rt, r1, r2, r0) - ind3(r0, r1, r2, r0);
    const float c3 = ind3(rt, r2, r0, r1) - ind3(r0, r2, r0, r1);
    return t.alpha * (x / s0.alpha + c1 * m(0) + c2 * m(1) + c3 * m(2));
  }

  std::int64_t order_ = 2, lower_order_nums_ = 0;
  bool lower_order_final_ = true;
  std::vector<at::Tensor> outputs_;
};

}  // namespace

std::unique_ptr<Scheduler> make_deis(const SchedulerConfig& config) { return std::make_unique<Deis>(config); }

}  // namespace workers
