// PNDMScheduler (diffusers): pseudo linear multistep (PLMS) with the warm-up diffusers uses —
// Runge-Kutta steps, or with skip_prk_steps the duplicated second timestep (a Heun-like restart).
#include <cmath>
#include <vector>

#include "schedulers/workers/alpha_scheduler.h"
#include "utilities/error.h"

namespace workers {
namespace {

class Pndm : public AlphaScheduler {
 public:
  explicit Pndm(const SchedulerConfig& c) : AlphaScheduler(c, "leading", false) {
    skip_prk_ = c.flag("skip_prk_steps", false);
    final_acp_ = c.flag("set_alpha_to_one", false) ? 1.0 : train_.acp.front();
    if (prediction_type_ == "sample") c.fail("prediction_type", "PNDM supports epsilon and v_prediction");
  }
  std::string class_name() const override { return "PNDMScheduler"; }

  void set_timesteps(std::int64_t steps) override {
    schedule::check_steps(steps, train_.steps);
    num_inference_steps_ = steps;
    auto ascending = schedule::integer_timesteps(spacing_, steps, train_.steps, steps_offset_);
    std::reverse(ascending.begin(), ascending.end());
    std::vector<double> all;
    prk_count_ = 0;
    const auto n = ascending.size();
    if (skip_prk_) {
      // [_ts[:-1], _ts[-2:-1], _ts[-1:]] reversed: the second timestep appears twice.
      std::vector<double> plms(ascending.begin(), ascending.end() - 1);
      if (n >= 2) plms.push_back(ascending[n - 2]);
      plms.push_back(ascending.back());
      all.assign(plms.rbegin(), plms.rend());
    } else {
      if (n < 4) throw Error(ErrorCode::kInvalidRequest, "steps: PNDM with Runge-Kutta warm-up needs at least 4 steps", "steps");
      const double half = static_cast<double>(train_.steps / steps / 2);
      std::vector<double> prk;
      for (std::size_t i = n - 4; i < n; ++i) {
        prk.push_back(ascending[i]);
        prk.push_back(ascending[i] + half);
      }
      // prk[:-1].repeat(2)[1:-1] reversed
      std::vector<double> repeated;
      for (std::size_t i = 0; i + 1 < prk.size(); ++i) repeated.insert(repeated.end(), 2, prk[i]);
      std::vector<double> trimmed(repeated.begin() + 1, repeated.end() - 1);
      all.assign(trimmed.rbegin(), trimmed.rend());
      prk_count_ = all.size();
      for (std::size_t i = n - 3; i-- > 0;) all.push_back(ascending[i]);
    }
    timesteps_ = schedule::to_tensor(all);
    ets_.clear();
    counter_ = 0;
    cur_model_output_ = at::Tensor();
    step_index_ = first_step_index();
  }

  StepResult step(const at::Tensor& model_output, double t, const at::Tensor& sample, at::Generator*) override {
    ++step_index_;
    if (counter_ < prk_count_ && !skip_prk_) return {step_prk(model_output, t, sample), {}};
    return {step_plms(model_output, t, sample), {}};
  }

 private:
  double ratio() const { return static_cast<double>(train_.steps / num_inference_steps_); }

  at::Tensor step_prk(const at::Tensor& model_output, double t, const at::Tensor& sample) {
    const double diff = counter_ % 2 ? 0.0 : static_cast<double>(train_.steps / num_inference_steps_ / 2);
    const double prev_t = t - diff;
    const double base_t = timesteps_[static_cast<std::int64_t>(counter_ / 4 * 4)].item<double>();
    at::Tensor output = model_output;
    switch (counter_ % 4) {
      case 0:
        cur_model_output_ = (1.0 / 6) * model_output;
        ets_.push_back(model_output);
        cur_sample_ = sample;
        break;
      case 1:
      case 2:
        cur_model_output_ = cur_model_output_ + (1.0 / 3) * model_output;
        break;
      default:
        output = cur_model_output_ + (1.0 / 6) * model_output;
        cur_model_output_ = at::Tensor();
    }
    auto prev = previous_sample(cur_sample_.defined() ? cur_sample_ : sample, base_t, prev_t, output);
    ++counter_;
    return prev;
  }

  at::Tensor step_plms(const at::Tensor& model_output, double t, const at::Tensor& sample) {
    double prev_t = t - ratio();
    double timestep = t;
    if (counter_ != 1) {
      if (ets_.size() > 3) ets_.erase(ets_.begin(), ets_.end() - 3);
      ets_.push_back(model_output);
    } else {
      prev_t = t;
      timestep = t + ratio();
    }
    at::Tensor output, x = sample;
    const auto n = ets_.size();
    if (n == 1 && counter_ == 0) {
      output = model_output;
      cur_sample_ = sample;
    } else if (n == 1 && counter_ == 1) {
      output = (model_output + ets_.back()) / 2;
      x = cur_sample_;
      cur_sample_ = at::Tensor();
    } else if (n == 2) {
      output = (3 * ets_[n - 1] - ets_[n - 2]) / 2;
    } else if (n == 3) {
      output = (23 * ets_[n - 1] - 16 * ets_[n - 2] + 5 * ets_[n - 3]) / 12;
    } else {
      output = (1.0 / 24) * (55 * ets_[n - 1] - 59 * ets_[n - 2] + 37 * ets_[n - 3] - 9 * ets_[n - 4]);
    }
    auto prev = previous_sample(x, timestep, prev_t, output);
    ++counter_;
    return prev;
  }

  // PNDM paper formula (9).
  at::Tensor previous_sample(const at::Tensor& sample, double t, double prev_t, at::Tensor output) const {
    const double a = acp(t);
    const double a_prev = prev_t >= 0 ? acp(prev_t) : final_acp_;
    const double b = schedule::f32(1.0 - a), b_prev = schedule::f32(1.0 - a_prev);
    if (prediction_type_ == "v_prediction") output = std::sqrt(a) * output + std::sqrt(b) * sample;
    const double sample_coeff = std::sqrt(a_prev / a);
    const double denom = a * std::sqrt(b_prev) + std::sqrt(a * b * a_prev);
    return sample_coeff * sample - (a_prev - a) * output / denom;
  }

  bool skip_prk_ = false;
  double final_acp_ = 1.0;
  std::size_t prk_count_ = 0;
  std::size_t counter_ = 0;
  std::vector<at::Tensor> ets_;
  at::Tensor cur_sample_, cur_model_output_;
};

}  // namespace

std::unique_ptr<Scheduler> make_pndm(const SchedulerConfig& config) { return std::make_unique<Pndm>(config); }

}  // namespace workers
