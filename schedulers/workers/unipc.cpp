// UniPCMultistepScheduler (diffusers): UniP predictor + UniC corrector, bh1/bh2, predict_x0,
// lower_order_final as min(order, steps left), disable_corrector.
#include <cmath>

#include "schedulers/workers/multistep_base.h"

namespace workers {
namespace {

class UniPc : public MultistepBase {
 public:
  explicit UniPc(const SchedulerConfig& c) : MultistepBase(c, true) {
    order_ = c.integer("solver_order", 2, 1, 3);
    predict_x0_ = c.flag("predict_x0", true);
    auto solver = c.choice("solver_type", "bh2", {"bh1", "bh2", "midpoint", "heun", "logrho"});
    bh1_ = solver == "bh1";
    lower_order_final_ = c.flag("lower_order_final", true);
    final_zero_ = c.choice("final_sigmas_type", "zero", {"zero", "sigma_min"}) == "zero";
    if (c.has("disable_corrector")) {
      for (double d : c.numbers("disable_corrector")) disable_corrector_.push_back(static_cast<std::int64_t>(d));
    }
    if (c.has("solver_p")) c.fail("solver_p", "an external predictor scheduler is not supported");
  }
  std::string class_name() const override { return "UniPCMultistepScheduler"; }

  void set_timesteps(std::int64_t steps) override {
    schedule::check_steps(steps, train_.steps);
    std::vector<double> timesteps = grid(steps, train_.steps), sigmas;
    double last = 0;
    if (use_karras_) {
      karras(steps, timesteps, sigmas);
      last = final_zero_ ? 0.0 : sigmas.back();
    } else {
      sigmas = sigmas_at(timesteps);
      last = final_zero_ ? 0.0 : train_sigmas_.front();
    }
    store(timesteps, sigmas, last);
    outputs_.assign(static_cast<std::size_t>(order_), at::Tensor());
    lower_order_nums_ = 0;
    last_sample_ = at::Tensor();
  }

  StepResult step(const at::Tensor& model_output, double, const at::Tensor& sample, at::Generator*) override {
    begin_step();
    const bool use_corrector = step_index_ > 0 && last_sample_.defined() &&
                               std::find(disable_corrector_.begin(), disable_corrector_.end(), step_index_ - 1) ==
                                   disable_corrector_.end();
    const auto s = alpha_sigma(step_index_);
    auto converted = predict_x0_ ? to_x0(model_output, sample, s) : to_epsilon(model_output, sample, s);
    auto x = use_corrector ? corrector(converted) : sample;
    for (std::size_t i = 0; i + 1 < outputs_.size(); ++i) outputs_[i] = outputs_[i + 1];
    outputs_.back() = converted;
    auto order = lower_order_final_ ? std::min(order_, timesteps_.size(0) - step_index_) : order_;
    this_order_ = std::min(order, lower_order_nums_ + 1);
    last_sample_ = x;
    auto prev = predictor(x);
    if (lower_order_nums_ < order_) ++lower_order_nums_;
    ++step_index_;
    return {prev, predict_x0_ ? converted : at::Tensor()};
  }

 private:
  const at::Tensor& m(int back) const { return outputs_[outputs_.size() - 1 - static_cast<std::size_t>(back)]; }

  // rks, the b vector and B_h shared by predictor and corrector.
  struct Coefficients {
    std::vector<float> rks;
    std::vector<float> b;
    float h_phi_1, B_h;
  };
  Coefficients coefficients(float h, const std::vector<float>& rks_in, std::int64_t order) const {
    Coefficients c;
    c.rks = rks_in;
    c.rks.push_back(1.0f);
    const float hh = predict_x0_ ? -h : h;
    c.h_phi_1 = std::expm1(hh);
    float h_phi_k = c.h_phi_1 / hh - 1;
    float factorial = 1;
    c.B_h = bh1_ ? hh : std::expm1(hh);
    for (std::int64_t i = 1; i <= order; ++i) {
      c.b.push_back(h_phi_k * factorial / c.B_h);
      factorial *= static_cast<float>(i + 1);
      h_phi_k = h_phi_k / hh - static_cast<float>(1.0 / static_cast<double>(factorial));
    }
    return c;
  }

  // Solves R[:k,:k] rho = b[:k] with R[j][i] = rks[i]^j (float32, as torch.linalg.solve).
  static at::Tensor solve(const std::vector<float>& rks, const std::vector<float>& b, std::int64_t k) {
    auto R = torch::empty({k, k}, torch::kFloat32);
    for (std::int64_t j = 0; j < k; ++j) {
      for (std::int64_t i = 0; i < k; ++i) R[j][i] = std::pow(rks[static_cast<std::size_t>(i)], static_cast<float>(j));
    }
    auto rhs = torch::tensor(std::vector<float>(b.begin(), b.begin() + k), torch::kFloat32);
    return at::linalg_solve(R, rhs);
  }

  static at::Tensor combine(const at::Tensor& rhos, const std::vector<at::Tensor>& D1s) {
    at::Tensor out;
    for (std::size_t k = 0; k < D1s.size(); ++k) {
      auto term = rhos[static_cast<std::int64_t>(k)].item<float>() * D1s[k];
      out = out.defined() ? out + term : term;
    }
    return out;
  }

  at::Tensor predictor(const at::Tensor& x) const {
    const auto t = alpha_sigma(step_index_ + 1), s0 = alpha_sigma(step_index_);
    const float h = t.lambda - s0.lambda;
    const auto& m0 = m(0);
    std::vector<float> rks;
    std::vector<at::Tensor> D1s;
    for (std::int64_t i = 1; i < this_order_; ++i) {
      const auto si = alpha_sigma(step_index_ - i);
      const float rk = (si.lambda - s0.lambda) / h;
      rks.push_back(rk);
      D1s.push_back((m(static_cast<int>(i)) - m0) / rk);
    }
    const auto c = coefficients(h, rks, this_order_);
    at::Tensor pred_res;
    if (!D1s.empty()) {
      auto rhos = this_order_ == 2 ? torch::tensor({0.5f}) : solve(c.rks, c.b, this_order_ - 1);
      pred_res = combine(rhos, D1s);
    }
    at::Tensor out;
    if (predict_x0_) {
      out = t.sigma / s0.sigma * x - t.alpha * c.h_phi_1 * m0;
      if (pred_res.defined()) out = out - t.alpha * c.B_h * pred_res;
    } else {
      out = t.alpha / s0.alpha * x - t.sigma * c.h_phi_1 * m0;
      if (pred_res.defined()) out = out - t.sigma * c.B_h * pred_res;
    }
    return out.to(x.scalar_type());
  }

  at::Tensor corrector(const at::Tensor& model_t) const {
    const auto order = this_order_;
    const auto t = alpha_sigma(step_index_), s0 = alpha_sigma(step_index_ - 1);
    const float h = t.lambda - s0.lambda;
    const auto& m0 = m(0);  // the previous step's converted output (before this step's shift)
    const auto& x = last_sample_;
    std::vector<float> rks;
    std::vector<at::Tensor> D1s;
    for (std::int64_t i = 1; i < order; ++i) {
      const auto si = alpha_sigma(step_index_ - (i + 1));
      const float rk = (si.lambda - s0.lambda) / h;
      rks.push_back(rk);
      D1s.push_back((m(static_cast<int>(i)) - m0) / rk);
    }
    const auto c = coefficients(h, rks, order);
    auto rhos = order == 1 ? torch::tensor({0.5f}) : solve(c.rks, c.b, order);
    at::Tensor corr = D1s.empty() ? at::Tensor() : combine(rhos, D1s);
    const float rho_last = rhos[rhos.size(0) - 1].item<float>();
    auto D1_t = model_t - m0;
    auto res = corr.defined() ? corr + rho_last * D1_t : rho_last * D1_t;
    at::Tensor out;
    if (predict_x0_) {
      out = t.sigma / s0.sigma * x - t.alpha * c.h_phi_1 * m0 - t.alpha * c.B_h * res;
    } else {
      out = t.alpha / s0.alpha * x - t.sigma * c.h_phi_1 * m0 - t.sigma * c.B_h * res;
    }
    return out.to(x.scalar_type());
  }

  std::int64_t order_ = 2, this_order_ = 1, lower_order_nums_ = 0;
  bool predict_x0_ = true, bh1_ = false, lower_order_final_ = true, final_zero_ = true;
  std::vector<std::int64_t> disable_corrector_;
  std::vector<at::Tensor> outputs_;
  at::Tensor last_sample_;
};

}  // namespace

std::unique_ptr<Scheduler> make_unipc(const SchedulerConfig& config) { return std::make_unique<UniPc>(config); }

}  // namespace workers
