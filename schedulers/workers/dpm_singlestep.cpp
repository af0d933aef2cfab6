// DPMSolverSinglestepScheduler (diffusers 0.30): the order list (1, 2[, 3] repeated), each
// higher-order step integrating from the sample cached at its order-1 step.
#include <cmath>
#include <limits>

#include "schedulers/workers/multistep_base.h"

namespace workers {
namespace {

class DpmSinglestep : public MultistepBase {
 public:
  explicit DpmSinglestep(const SchedulerConfig& c) : MultistepBase(c, false, false) {
    order_ = c.integer("solver_order", 2, 1, 3);
    auto algorithm = c.choice("algorithm_type", "dpmsolver++", {"dpmsolver", "dpmsolver++", "sde-dpmsolver++", "deis"});
    algorithm_ = algorithm == "deis" ? "dpmsolver++" : algorithm;
    heun_ = c.choice("solver_type", "midpoint", {"midpoint", "heun", "logrho", "bh1", "bh2"}) == "heun";
    lower_order_final_ = c.flag("lower_order_final", false);
    final_zero_ = c.choice("final_sigmas_type", "zero", {"zero", "sigma_min"}) == "zero";
    lambda_min_clipped_ = c.number("lambda_min_clipped", -std::numeric_limits<double>::infinity());
    if (final_zero_ && algorithm_ == "dpmsolver") c.fail("final_sigmas_type", "\"zero\" needs dpmsolver++");
    if (algorithm_ == "sde-dpmsolver++" && order_ == 3) c.fail("solver_order", "sde-dpmsolver++ supports orders 1 and 2");
  }
  std::string class_name() const override { return "DPMSolverSinglestepScheduler"; }

  void set_timesteps(std::int64_t steps) override {
    schedule::check_steps(steps, train_.steps);
    const auto clipped = clipped_steps(lambda_min_clipped_);
    std::vector<double> timesteps, sigmas;
    auto points = schedule::linspace(0, static_cast<double>(train_.steps - 1 - clipped), steps + 1);
    for (std::int64_t i = steps; i >= 1; --i) timesteps.push_back(schedule::round_half_even(points[static_cast<std::size_t>(i)]));
    if (use_karras_) {
      karras(steps, timesteps, sigmas);
    } else {
      sigmas = sigmas_at(timesteps);
    }
    store(timesteps, sigmas, final_zero_ ? 0.0 : train_sigmas_.front());
    outputs_.assign(static_cast<std::size_t>(order_), at::Tensor());
    cached_ = at::Tensor();
    // diffusers switches lower_order_final on (persistently) in these cases.
    if (!lower_order_final_ && (steps % order_ != 0 || final_zero_)) lower_order_final_ = true;
    orders_ = order_list(steps);
  }

  StepResult step(const at::Tensor& model_output, double, const at::Tensor& sample, at::Generator* generator) override {
    begin_step();
    const auto s0 = alpha_sigma(step_index_);
    auto converted = algorithm_ == "dpmsolver" ? to_epsilon(model_output, sample, s0) : to_x0(model_output, sample, s0);
    for (std::size_t i = 0; i + 1 < outputs_.size(); ++i) outputs_[i] = outputs_[i + 1];
    outputs_.back() = converted;
    at::Tensor noise;
    if (algorithm_ == "sde-dpmsolver++") noise = step_noise(converted, generator);
    auto order = orders_.at(static_cast<std::size_t>(step_index_));
    while (!outputs_[outputs_.size() - static_cast<std::size_t>(order)].defined()) --order;
    if (order == 1) cached_ = sample;
    at::Tensor prev = order == 1 ? first_order(noise) : order == 2 ? second_order(noise) : third_order();
    ++step_index_;
    return {prev, algorithm_ == "dpmsolver" ? at::Tensor() : converted};
  }

 private:
  std::vector<std::int64_t> order_list(std::int64_t steps) const {
    std::vector<std::int64_t> out;
    auto repeat = [&](std::vector<std::int64_t> pattern, std::int64_t times) {
      for (std::int64_t i = 0; i < times; ++i) out.insert(out.end(), pattern.begin(), pattern.end());
    };
    if (lower_order_final_) {
      if (order_ == 3) {
        if (steps % 3 == 0) {
          repeat({1, 2, 3}, steps / 3 - 1);
          out.insert(out.end(), {1, 2, 1});
        } else if (steps % 3 == 1) {
          repeat({1, 2, 3}, steps / 3);
          out.push_back(1);
        } else {
          repeat({1, 2, 3}, steps / 3);
          out.insert(out.end(), {1, 2});
        }
      } else if (order_ == 2) {
        if (steps % 2 == 0) {
          repeat({1, 2}, steps / 2 - 1);
          out.insert(out.end(), {1, 1});
        } else {
          repeat({1, 2}, steps / 2);
          out.push_back(1);
        }
      } else {
        repeat({1}, steps);
      }
    } else {
      repeat(order_ == 3 ? std::vector<std::int64_t>{1, 2, 3} : order_ == 2 ? std::vector<std::int64_t>{1, 2}
                                                                            : std::vector<std::int64_t>{1},
             steps / order_);
    }
    // Newer diffusers' fix: an order-2/3 step into sigma 0 divides by zero, so the last is order 1.
    if (final_zero_ && !out.empty()) out.back() = 1;
    return out;
  }

  const at::Tensor& m(int back) const { return outputs_[outputs_.size() - 1 - static_cast<std::size_t>(back)]; }

  // Both integrate from the sample cached at the cycle's order-1 step.
  at::Tensor first_order(const at::Tensor& noise) const {
    const auto t = alpha_sigma(step_index_ + 1), s = alpha_sigma(step_index_);
    return dpm_update(algorithm_, heun_, t, s, t.lambda - s.lambda, cached_, m(0), {}, noise);
  }

  at::Tensor second_order(const at::Tensor& noise) const {
    const auto t = alpha_sigma(step_index_ + 1), s0 = alpha_sigma(step_index_), s1 = alpha_sigma(step_index_ - 1);
    const float h = t.lambda - s1.lambda, h0 = s0.lambda - s1.lambda, r0 = h0 / h;
    const auto D1 = (1.0f / r0) * (m(0) - m(1));
    return dpm_update(algorithm_, heun_, t, s1, h, cached_, m(1), D1, noise);
  }

  at::Tensor third_order() const {
    const auto t = alpha_sigma(step_index_ + 1), s0 = alpha_sigma(step_index_), s1 = alpha_sigma(step_index_ - 1),
               s2 = alpha_sigma(step_index_ - 2);
    const float h = t.lambda - s2.lambda, h0 = s0.lambda - s2.lambda, h1 = s1.lambda - s2.lambda;
    const float r0 = h0 / h, r1 = h1 / h;
    const auto& D0 = m(2);
    const auto D1_0 = (1.0f / r1) * (m(1) - m(2));
    const auto D1_1 = (1.0f / r0) * (m(0) - m(2));
    const auto D1 = (r0 * D1_0 - r1 * D1_1) / (r0 - r1);
    const auto D2 = 2.0f * (D1_1 - D1_0) / (r0 - r1);
    const auto& x = cached_;
    if (algorithm_ == "dpmsolver++") {
      const auto base = (t.sigma / s2.sigma) * x - (t.alpha * (std::exp(-h) - 1.0f)) * D0;
      if (!heun_) return base + (t.alpha * ((std::exp(-h) - 1.0f) / h + 1.0f)) * D1_1;
      return base + (t.alpha * ((std::exp(-h) - 1.0f) / h + 1.0f)) * D1 -
             (t.alpha * ((std::exp(-h) - 1.0f + h) / (h * h) - 0.5f)) * D2;
    }
    const auto base = (t.alpha / s2.alpha) * x - (t.sigma * (std::exp(h) - 1.0f)) * D0;
    if (!heun_) return base - (t.sigma * ((std::exp(h) - 1.0f) / h - 1.0f)) * D1_1;
    return base - (t.sigma * ((std::exp(h) - 1.0f) / h - 1.0f)) * D1 -
           (t.sigma * ((std::exp(h) - 1.0f - h) / (h * h) - 0.5f)) * D2;
  }

  std::int64_t order_ = 2;
  std::string algorithm_;
  bool heun_ = false, lower_order_final_ = false, final_zero_ = true;
  double lambda_min_clipped_ = 0;
  std::vector<std::int64_t> orders_;
  std::vector<at::Tensor> outputs_;
  at::Tensor cached_;
};

}  // namespace

std::unique_ptr<Scheduler> make_dpm_singlestep(const SchedulerConfig& config) {
  return std::make_unique<DpmSinglestep>(config);
}

}  // namespace workers
