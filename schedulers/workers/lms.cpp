// LMSDiscreteScheduler (diffusers): linear multistep of order up to 4 in sigma, with the
// coefficients integrated as scipy.integrate.quad does for these polynomials (one 21-point
// Gauss-Kronrod pass over the float32 Lagrange basis).
#include <cmath>
#include <deque>

#include "schedulers/workers/sigma_base.h"

namespace workers {
namespace {

constexpr double kXgk[11] = {0.995657163025808080735527280689003, 0.973906528517171720077964012084452,
                             0.930157491355708226001207180059508, 0.865063366688984510732096688423493,
                             0.780817726586416897063717578345042, 0.679409568299024406234327365114874,
                             0.562757134668604683339000099272694, 0.433395394129247190799265943165784,
                             0.294392862701460198131126603103866, 0.148874338981631210884826001129720,
                             0.0};
constexpr double kWgk[11] = {0.011694638867371874278064396062192, 0.032558162307964727478818972459390,
                             0.054755896574351996031381300244580, 0.075039674810919952767043140916190,
                             0.093125454583697605535065465083366, 0.109387158802297641899210590325805,
                             0.123491976262065851077958109831074, 0.134709217311473325928054001771707,
                             0.142775938577060080797094273138717, 0.147739104901338491374841515972068,
                             0.149445554002916905664936468389821};

class Lms : public SigmaBase {
 public:
  explicit Lms(const SchedulerConfig& c) : SigmaBase(c, {false, true, {}}) {}
  std::string class_name() const override { return "LMSDiscreteScheduler"; }

  void set_timesteps(std::int64_t steps) override {
    std::vector<double> timesteps, sigmas;
    base_schedule(steps, timesteps, sigmas);
    store(timesteps, sigmas, use_karras_ || use_exponential_);
    derivatives_.clear();
  }

  StepResult step(const at::Tensor& model_output, double t, const at::Tensor& sample, at::Generator*) override {
    ensure_started(t);
    const auto k = step_index_;
    const float s = sigma(k);
    auto x0 = x0_from(model_output, sample, s);
    derivatives_.push_back((sample - x0) / s);
    if (derivatives_.size() > kOrder) derivatives_.pop_front();
    const auto order = std::min<std::int64_t>(k + 1, kOrder);
    at::Tensor sum;
    for (std::int64_t c = 0; c < order; ++c) {
      const double coeff = coefficient(order, k, c);
      auto term = coeff * derivatives_[derivatives_.size() - 1 - static_cast<std::size_t>(c)];
      sum = sum.defined() ? sum + term : term;
    }
    ++step_index_;
    return {sample + sum, x0};
  }

 private:
  static constexpr std::size_t kOrder = 4;

  // Integral from sigma_t to sigma_{t+1} of the Lagrange basis polynomial of node t - current.
  double coefficient(std::int64_t order, std::int64_t t, std::int64_t current) const {
    auto basis = [&](double tau) {
      float product = 1.0f;
      for (std::int64_t k = 0; k < order; ++k) {
        if (k == current) continue;
        product *= (static_cast<float>(tau) - sigma(t - k)) / (sigma(t - current) - sigma(t - k));
      }
      return static_cast<double>(product);
    };
    const double a = sigma(t), b = sigma(t + 1);
    const double centre = 0.5 * (a + b), half = 0.5 * (b - a);
    double result = kWgk[10] * basis(centre);
    for (int j = 0; j < 10; ++j) {
      const double x = half * kXgk[j];
      result += kWgk[j] * (basis(centre - x) + basis(centre + x));
    }
    return result * half;
  }

  std::deque<at::Tensor> derivatives_;
};

}  // namespace

std::unique_ptr<Scheduler> make_lms(const SchedulerConfig& config) { return std::make_unique<Lms>(config); }

}  // namespace workers
