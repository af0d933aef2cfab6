#include "schedulers/timestep_window.h"

#include <cmath>

#include <torch/torch.h>

#include "utilities/error.h"

namespace workers {
namespace {

std::int64_t cutoff(const Scheduler& s, double fraction) {
  const double T = static_cast<double>(s.num_train_timesteps());
  return static_cast<std::int64_t>(std::nearbyint(T - fraction * T));
}

void check_fraction(const char* field, std::optional<double> value) {
  if (value && !(*value > 0.0 && *value < 1.0)) {
    throw_invalid(field, "must be between 0 and 1 (exclusive), got " + std::to_string(*value));
  }
}

}  // namespace

TimestepWindow select_timesteps(Scheduler& s, std::int64_t steps, double strength, std::optional<double> start,
                                std::optional<double> end) {
  if (!(strength > 0.0 && strength <= 1.0)) throw_invalid("strength", "must be in (0, 1], got " + std::to_string(strength));
  check_fraction("denoising_start", start);
  check_fraction("denoising_end", end);
  if (start && end && *start >= *end) throw_invalid("denoising_start", "must be below denoising_end");
  s.set_timesteps(steps);
  auto timesteps = s.timesteps();
  const auto order = s.order();
  TimestepWindow w;
  std::int64_t t_start = 0;
  if (start) {
    const auto limit = static_cast<double>(cutoff(s, *start));
    auto count = timesteps.lt(limit).sum().item<std::int64_t>();
    if (order == 2 && count % 2 == 0) ++count;
    t_start = timesteps.size(0) - count;
    w.steps = count;
    s.set_begin_index(t_start);
  } else if (strength < 1.0) {
    const auto init = std::min(static_cast<std::int64_t>(static_cast<double>(steps) * strength), steps);
    const auto skip = std::max<std::int64_t>(steps - init, 0);
    t_start = skip * order;
    w.steps = steps - skip;
    s.set_begin_index(t_start);
  } else {
    w.steps = steps;
  }
  if (t_start >= timesteps.size(0) || w.steps < 1) {
    throw_invalid(start ? "denoising_start" : "strength",
                  "leaves no denoising step with " + std::to_string(steps) + " steps; raise steps or the value");
  }
  timesteps = timesteps.slice(0, t_start);
  if (end) {
    const auto limit = static_cast<double>(cutoff(s, *end));
    const auto keep = timesteps.ge(limit).sum().item<std::int64_t>();
    if (keep < 1) throw_invalid("denoising_end", "leaves no denoising step with " + std::to_string(steps) + " steps");
    timesteps = timesteps.slice(0, 0, keep);
    w.steps = keep;
  }
  w.timesteps = timesteps;
  w.begin_index = t_start;
  return w;
}

}  // namespace workers
