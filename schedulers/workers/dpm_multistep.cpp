// DPMSolverMultistepScheduler (diffusers): DPM-Solver++ / DPM-Solver, orders 1-3, the SDE
// variants (one float32 draw per step), lower_order_final / euler_at_final, final sigma zero or
// sigma_min, Karras or Lu lambdas. Coefficients in float32 in diffusers' order of operations.
#include <cmath>
#include <limits>

#include "schedulers/workers/multistep_base.h"

namespace workers {
namespace {

class DpmMultistep : public MultistepBase {
 public:
  explicit DpmMultistep(const SchedulerConfig& c) : MultistepBase(c, true) {
    order_ = c.integer("solver_order", 2, 1, 3);
    auto algorithm = c.choice("algorithm_type", "dpmsolver++", {"dpmsolver", "dpmsolver++", "sde-dpmsolver", "sde-dpmsolver++", "deis"});
    algorithm_ = algorithm == "deis" ? "dpmsolver++" : algorithm;
    auto solver = c.choice("solver_type", "midpoint", {"midpoint", "heun", "logrho", "bh1", "bh2"});
    heun_ = solver == "heun";
    lower_order_final_ = c.flag("lower_order_final", true);
    euler_at_final_ = c.flag("euler_at_final", false);
    use_lu_ = c.flag("use_lu_lambdas", false);
    final_zero_ = c.choice("final_sigmas_type", "zero", {"zero", "sigma_min"}) == "zero";
    lambda_min_clipped_ = c.number("lambda_min_clipped", -std::numeric_limits<double>::infinity());
    if (final_zero_ && algorithm.find("++") == std::string::npos) {
      c.fail("final_sigmas_type", "\"zero\" needs algorithm_type dpmsolver++ or sde-dpmsolver++");
    }
    if (sde() && order_ == 3) c.fail("solver_order", "the SDE variants support orders 1 and 2");
    c.choice("variance_type", "none", {"none"});
  }
  std::string class_name() const override { return "DPMSolverMultistepScheduler"; }

  void set_timesteps(std::int64_t steps) override {
    schedule::check_steps(steps, train_.steps);
    // clipped_idx: how many training lambdas fall below lambda_min_clipped.
    const auto clipped = clipped_steps(lambda_min_clipped_);
    std::vector<double> timesteps = grid(steps, train_.steps - clipped), sigmas;
    if (use_karras_) {
      karras(steps, timesteps, sigmas);
    } else if (use_lu_) {
      auto lambdas = schedule::linspace(log_sigmas_.back(), log_sigmas_.front(), steps);
      timesteps.clear();
      for (double l : lambdas) {
        sigmas.push_back(std::exp(l));
        timesteps.push_back(schedule::round_half_even(schedule::sigma_to_t(sigmas.back(), log_sigmas_)));
      }
    } else {
      sigmas = sigmas_at(timesteps);
    }
    store(timesteps, sigmas, final_zero_ ? 0.0 : train_sigmas_.front());
    outputs_.assign(static_cast<std::size_t>(order_), at::Tensor());
    lower_order_nums_ = 0;
  }

  StepResult step(const at::Tensor& model_output, double, const at::Tensor& sample, at::Generator* generator) override {
    begin_step();
    const auto n = timesteps_.size(0);
    const bool last = step_index_ == n - 1;
    const bool lower_final = last && (euler_at_final_ || (lower_order_final_ && n < 15) || final_zero_);
    const bool lower_second = step_index_ == n - 2 && lower_order_final_ && n < 15;
    const auto s0 = alpha_sigma(step_index_);
    auto converted = algorithm_.find("++") != std::string::npos ? to_x0(model_output, sample, s0)
                                                                 : to_epsilon(model_output, sample, s0);
    for (int i = 0; i + 1 < order_; ++i) outputs_[static_cast<std::size_t>(i)] = outputs_[static_cast<std::size_t>(i + 1)];
    outputs_.back() = converted;
    auto x = sample.to(torch::kFloat32);
    at::Tensor noise;
    if (sde()) noise = step_noise(x, generator);
    at::Tensor prev;
    if (order_ == 1 || lower_order_nums_ < 1 || lower_final) {
      prev = first_order(converted, x, noise);
    } else if (order_ == 2 || lower_order_nums_ < 2 || lower_second) {
      prev = second_order(x, noise);
    } else {
      prev = third_order(x);
    }
    if (lower_order_nums_ < order_) ++lower_order_nums_;
    ++step_index_;
    return {prev.to(converted.scalar_type()), algorithm_.find("++") != std::string::npos ? converted : at::Tensor()};
  }

 private:
  bool sde() const { return algorithm_.rfind("sde", 0) == 0; }
  bool plus() const { return algorithm_.find("++") != std::string::npos; }
  const at::Tensor& m(int back) const { return outputs_[outputs_.size() - 1 - static_cast<std::size_t>(back)]; }

  at::Tensor first_order(const at::Tensor& m0, const at::Tensor& x, const at::Tensor& noise) const {
    const auto t = alpha_sigma(step_index_ + 1), s = alpha_sigma(step_index_);
    return dpm_update(algorithm_, heun_, t, s, t.lambda - s.lambda, x, m0, {}, noise);
  }

  at::Tensor second_order(const at::Tensor& x, const at::Tensor& noise) const {
    const auto t = alpha_sigma(step_index_ + 1), s0 = alpha_sigma(step_index_), s1 = alpha_sigma(step_index_ - 1);
    const float h = t.lambda - s0.lambda, h0 = s0.lambda - s1.lambda, r0 = h0 / h;
    const auto D1 = (1.0f / r0) * (m(0) - m(1));
    return dpm_update(algorithm_, heun_, t, s0, h, x, m(0), D1, noise);
  }

  at::Tensor third_order(const at::Tensor& x) const {
    const auto t = alpha_sigma(step_index_ + 1), s0 = alpha_sigma(step_index_), s1 = alpha_sigma(step_index_ - 1),
               s2 = alpha_sigma(step_index_ - 2);
    const float h = t.lambda - s0.lambda, h0 = s0.lambda - s1.lambda, h1 = s1.lambda - s2.lambda;
    const float r0 = h0 / h, r1 = h1 / h;
    const auto& m0 = m(0);
    const auto D1_0 = (1.0f / r0) * (m0 - m(1));
    const auto D1_1 = (1.0f / r1) * (m(1) - m(2));
    const auto D1 = D1_0 + (r0 / (r0 + r1)) * (D1_0 - D1_1);
    const auto D2 = (1.0f / (r0 + r1)) * (D1_0 - D1_1);
    if (plus()) {
      return (t.sigma / s0.sigma) * x - (t.alpha * (std::exp(-h) - 1.0f)) * m0 +
             (t.alpha * ((std::exp(-h) - 1.0f) / h + 1.0f)) * D1 -
             (t.alpha * ((std::exp(-h) - 1.0f + h) / (h * h) - 0.5f)) * D2;
    }
    return (t.alpha / s0.alpha) * x - (t.sigma * (std::exp(h) - 1.0f)) * m0 -
           (t.sigma * ((std::exp(h) - 1.0f) / h - 1.0f)) * D1 - (t.sigma * ((std::exp(h) - 1.0f - h) / (h * h) - 0.5f)) * D2;
  }

  std::int64_t order_ = 2;
  std::string algorithm_;
  bool heun_ = false, lower_order_final_ = true, euler_at_final_ = false, use_lu_ = false, final_zero_ = true;
  double lambda_min_clipped_ = 0;
  std::vector<at::Tensor> outputs_;
  std::int64_t lower_order_nums_ = 0;
};

}  // namespace

std::unique_ptr<Scheduler> make_dpm_multistep(const SchedulerConfig& config) {
  return std::make_unique<DpmMultistep>(config);
}

}  // namespace workers
