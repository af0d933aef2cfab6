#include "schedulers/schedule.h"

#include <algorithm>
#include <cfenv>
#include <cmath>

#include <torch/torch.h>

#include "schedulers/scheduler.h"
#include "utilities/error.h"

namespace workers::schedule {

TrainSchedule train_schedule(const SchedulerConfig& c, const BetaDefaults& d, bool allow_zero_snr) {
  TrainSchedule s;
  s.steps = c.integer("num_train_timesteps", 1000, 2, 100000);
  const auto trained = c.numbers("trained_betas");
  if (!trained.empty()) {
    if (static_cast<std::int64_t>(trained.size()) != s.steps) {
      c.fail("trained_betas", "must have num_train_timesteps entries");
    }
    s.betas = torch::tensor(trained, torch::kFloat64).to(torch::kFloat32);
  } else {
    const double start = c.number("beta_start", d.beta_start);
    const double end = c.number("beta_end", d.beta_end);
    if (start <= 0 || end >= 1 || start > end) c.fail("beta_start", "needs 0 < beta_start <= beta_end < 1");
    const auto kind = c.choice("beta_schedule", d.beta_schedule, {"linear", "scaled_linear", "squaredcos_cap_v2"});
    if (kind == "linear") {
      s.betas = torch::linspace(start, end, s.steps, torch::kFloat32);
    } else if (kind == "scaled_linear") {
      s.betas = torch::linspace(std::sqrt(start), std::sqrt(end), s.steps, torch::kFloat32).pow(2);
    } else {
      // betas_for_alpha_bar with the cosine transform, max_beta 0.999, in double then float32.
      auto alpha_bar = [](double t) {
        const double c0 = std::cos((t + 0.008) / 1.008 * M_PI / 2);
        return c0 * c0;
      };
      std::vector<double> betas;
      for (std::int64_t i = 0; i < s.steps; ++i) {
        const double t1 = static_cast<double>(i) / static_cast<double>(s.steps);
        const double t2 = static_cast<double>(i + 1) / static_cast<double>(s.steps);
        betas.push_back(std::min(1 - alpha_bar(t2) / alpha_bar(t1), 0.999));
      }
      s.betas = torch::tensor(betas, torch::kFloat64).to(torch::kFloat32);
    }
  }
  if (allow_zero_snr && c.flag("rescale_betas_zero_snr", false)) s.betas = rescale_zero_terminal_snr(s.betas);
  s.alphas_cumprod = torch::cumprod(1.0 - s.betas, 0);
  auto acp = s.alphas_cumprod.to(torch::kFloat64);
  s.acp.assign(acp.data_ptr<double>(), acp.data_ptr<double>() + acp.numel());
  return s;
}

at::Tensor rescale_zero_terminal_snr(const at::Tensor& betas) {
  auto alphas_bar_sqrt = torch::cumprod(1.0 - betas, 0).sqrt();
  auto first = alphas_bar_sqrt[0].clone();
  auto last = alphas_bar_sqrt[-1].clone();
  alphas_bar_sqrt -= last;
  alphas_bar_sqrt *= first / (first - last);
  auto alphas_bar = alphas_bar_sqrt.pow(2);
  auto alphas = torch::cat({alphas_bar.slice(0, 0, 1), alphas_bar.slice(0, 1) / alphas_bar.slice(0, 0, -1)});
  return 1 - alphas;
}

SampleClipping::SampleClipping(const SchedulerConfig& c, bool enabled_by_default)
    : enabled(c.flag("clip_sample", enabled_by_default)), range(c.number("clip_sample_range", 1.0)) {}

at::Tensor SampleClipping::apply(const at::Tensor& x0) const { return enabled ? x0.clamp(-range, range) : x0; }

void refuse_thresholding(const SchedulerConfig& c) {
  if (c.flag("thresholding", false)) c.fail("thresholding", "dynamic thresholding is not supported (pixel-space models only)");
}

void check_steps(std::int64_t steps, std::int64_t train_steps) {
  if (steps < 1 || steps > train_steps) {
    throw Error(ErrorCode::kInvalidRequest,
                "steps: must be between 1 and " + std::to_string(train_steps) + " (num_train_timesteps), got " +
                    std::to_string(steps),
                "steps");
  }
}

double round_half_even(double x) {
  const int mode = std::fegetround();
  std::fesetround(FE_TONEAREST);
  const double r = std::nearbyint(x);
  std::fesetround(mode);
  return r;
}

std::vector<double> linspace(double start, double stop, std::int64_t n) {
  std::vector<double> out;
  if (n <= 0) return out;
  if (n == 1) return {start};
  const double step = (stop - start) / static_cast<double>(n - 1);
  for (std::int64_t i = 0; i < n; ++i) out.push_back(static_cast<double>(i) * step + start);
  out.back() = stop;
  return out;
}

std::vector<double> arange(double start, double stop, double step) {
  const auto n = static_cast<std::int64_t>(std::ceil((stop - start) / step));
  const double delta = (start + step) - start;
  std::vector<double> out;
  for (std::int64_t i = 0; i < n; ++i) out.push_back(start + static_cast<double>(i) * delta);
  return out;
}

double interp_index(double x, const std::vector<double>& fp) {
  const auto n = static_cast<std::int64_t>(fp.size());
  if (x <= 0) return fp.front();
  if (x >= static_cast<double>(n - 1)) return fp.back();
  const auto j = static_cast<std::int64_t>(std::floor(x));
  if (static_cast<double>(j) == x) return fp[static_cast<std::size_t>(j)];
  const double slope = fp[static_cast<std::size_t>(j + 1)] - fp[static_cast<std::size_t>(j)];
  return slope * (x - static_cast<double>(j)) + fp[static_cast<std::size_t>(j)];
}

std::vector<double> integer_timesteps(const std::string& spacing, std::int64_t n, std::int64_t train_steps,
                                      std::int64_t offset) {
  std::vector<double> t;
  if (spacing == "linspace") {
    for (double v : linspace(0, static_cast<double>(train_steps - 1), n)) t.push_back(round_half_even(v));
    std::reverse(t.begin(), t.end());
  } else if (spacing == "leading") {
    const auto ratio = train_steps / n;
    for (std::int64_t i = n - 1; i >= 0; --i) t.push_back(static_cast<double>(i * ratio + offset));
  } else {
    for (double v : arange(static_cast<double>(train_steps), 0, -static_cast<double>(train_steps) / static_cast<double>(n))) {
      t.push_back(round_half_even(v) - 1);
    }
  }
  return t;
}

std::vector<double> float_timesteps(const std::string& spacing, std::int64_t n, std::int64_t train_steps,
                                    std::int64_t offset) {
  std::vector<double> t;
  if (spacing == "linspace") {
    t = linspace(0, static_cast<double>(train_steps - 1), n);
    std::reverse(t.begin(), t.end());
  } else if (spacing == "leading") {
    const auto ratio = train_steps / n;
    for (std::int64_t i = n - 1; i >= 0; --i) t.push_back(f32(static_cast<double>(i * ratio)) + static_cast<double>(offset));
  } else {
    for (double v : arange(static_cast<double>(train_steps), 0, -static_cast<double>(train_steps) / static_cast<double>(n))) {
      t.push_back(f32(round_half_even(v)) - 1);
    }
  }
  return t;
}

std::vector<double> training_sigmas(const std::vector<double>& acp) {
  std::vector<double> out;
  for (double a : acp) out.push_back(f32(std::sqrt(f32(f32(1.0 - a) / a))));
  return out;
}

std::vector<double> log_values(const std::vector<double>& values, bool float32) {
  std::vector<double> out;
  for (double v : values) out.push_back(float32 ? f32(std::log(v)) : std::log(v));
  return out;
}

double sigma_to_t(double sigma, const std::vector<double>& log_sigmas) {
  const double log_sigma = std::log(std::max(sigma, 1e-10));
  const auto n = static_cast<std::int64_t>(log_sigmas.size());
  // low_idx: the last index whose log sigma is <= log_sigma (cumsum().argmax()), clipped.
  std::int64_t count = 0, best = 0, low = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    if (log_sigma - log_sigmas[static_cast<std::size_t>(i)] >= 0) ++count;
    if (count > best) {
      best = count;
      low = i;
    }
  }
  low = std::min(low, n - 2);
  const double lo = log_sigmas[static_cast<std::size_t>(low)];
  const double hi = log_sigmas[static_cast<std::size_t>(low + 1)];
  const double w = std::clamp((lo - log_sigma) / (lo - hi), 0.0, 1.0);
  return (1 - w) * static_cast<double>(low) + w * static_cast<double>(low + 1);
}

std::vector<double> karras_sigmas(double sigma_min, double sigma_max, std::int64_t n) {
  const double rho = 7.0;
  const double min_inv = std::pow(sigma_min, 1 / rho), max_inv = std::pow(sigma_max, 1 / rho);
  std::vector<double> out;
  for (double r : linspace(0, 1, n)) out.push_back(std::pow(max_inv + r * (min_inv - max_inv), rho));
  return out;
}

std::vector<double> exponential_sigmas(double sigma_min, double sigma_max, std::int64_t n) {
  std::vector<double> out;
  for (double l : linspace(std::log(sigma_max), std::log(sigma_min), n)) out.push_back(std::exp(l));
  return out;
}

at::Tensor to_tensor(const std::vector<double>& values) { return torch::tensor(values, torch::kFloat64); }

at::Tensor draw_noise(const at::Tensor& like, at::Generator* generator) {
  auto options = torch::TensorOptions().dtype(like.scalar_type()).device(torch::kCPU);
  auto noise = generator ? at::randn(like.sizes(), *generator, options) : at::randn(like.sizes(), options);
  return noise.to(like.device());
}

}  // namespace workers::schedule

namespace workers {

at::Tensor Scheduler::step_noise(const at::Tensor& sample, at::Generator* generator) const {
  if (noise_window_.total == 0 || noise_window_.total == sample.size(0)) return schedule::draw_noise(sample, generator);
  auto sizes = sample.sizes().vec();
  sizes[0] = noise_window_.total;
  return schedule::draw_noise(at::empty(sizes, sample.options().device(torch::kCPU)), generator)
      .narrow(0, noise_window_.offset, sample.size(0))
      .to(sample.device());
}

std::int64_t Scheduler::index_for_timestep(double timestep) const {
  std::vector<std::int64_t> matches;
  auto values = timesteps_.to(torch::kFloat64).contiguous();
  const double* data = values.data_ptr<double>();
  for (std::int64_t i = 0; i < values.numel(); ++i) {
    if (data[i] == timestep) matches.push_back(i);
  }
  if (matches.empty()) return values.numel() - 1;
  return matches[matches.size() > 1 ? 1 : 0];
}

}  // namespace workers
