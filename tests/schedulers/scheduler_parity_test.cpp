// Every case of schedulers.json (19 configs × 4 and 25 steps) against schedulers.safetensors:
// timesteps and sigmas within 1e-6 relative, init_noise_sigma, and every step's scaled input
// and sample within 1e-5 max abs (fp32, the bound), stochastic ones included: the
// fixture drew from torch.Generator().manual_seed(42) in diffusers' order, so does this test.
#include <cmath>
#include <fstream>

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "schedulers/managers/scheduler_factory.h"
#include "support/tensor_checks.h"
#include "utilities/error.h"

namespace workers {
namespace {

using testing_support::fixture;
using testing_support::max_abs_diff;
using testing_support::Reference;

constexpr double kStepTolerance = 1e-5;
constexpr double kScheduleRelativeTolerance = 1e-6;

double max_relative(const at::Tensor& got, const at::Tensor& want) {
  EXPECT_EQ(got.sizes(), want.sizes());
  if (got.sizes() != want.sizes()) return 1e30;
  auto g = got.to(torch::kFloat64), w = want.to(torch::kFloat64);
  return ((g - w).abs() / w.abs().clamp_min(1e-8)).max().item<double>();
}

class SchedulerParity : public ::testing::TestWithParam<std::string> {};

const nlohmann::json& cases() {
  static const nlohmann::json all = [] {
    std::ifstream in(fixture("schedulers.json"));
    return nlohmann::json::parse(in);
  }();
  return all;
}

TEST_P(SchedulerParity, StepsMatchDiffusers) {
  c10::InferenceMode inference;
  const nlohmann::json* found = nullptr;
  for (const auto& c : cases()["cases"]) {
    if (c["key"] == GetParam()) found = &c;
  }
  ASSERT_NE(found, nullptr);
  const auto& c = *found;
  const std::string key = c["key"];
  Reference ref("schedulers.safetensors");
  auto scheduler = SchedulerFactory().create(c["class"], c["config"]);
  scheduler->set_timesteps(c["steps"].get<std::int64_t>());

  EXPECT_LE(max_relative(scheduler->timesteps(), ref[key + ".timesteps"]), kScheduleRelativeTolerance);
  try {
    auto sigmas = ref[key + ".sigmas"];
    ASSERT_TRUE(scheduler->sigmas().defined());
    EXPECT_LE(max_relative(scheduler->sigmas(), sigmas), kScheduleRelativeTolerance);
  } catch (const Error&) {
    // This family has no sigmas in the fixture.
  }
  EXPECT_NEAR(scheduler->init_noise_sigma(), c["init_noise_sigma"].get<double>(),
              1e-6 * c["init_noise_sigma"].get<double>());

  const auto scaled_ref = ref[key + ".scaled_inputs"];
  const auto samples_ref = ref[key + ".samples"];
  const auto timesteps = scheduler->timesteps();
  ASSERT_EQ(timesteps.size(0), samples_ref.size(0));
  auto generator = at::make_generator<at::CPUGeneratorImpl>(cases()["generator_seed"].get<std::uint64_t>());
  auto K = ref["K"];
  auto sample = ref["noise"] * scheduler->init_noise_sigma();
  for (std::int64_t i = 0; i < timesteps.size(0); ++i) {
    SCOPED_TRACE("step " + std::to_string(i));
    const double t = timesteps[i].item<double>();
    auto scaled = scheduler->scale_model_input(sample, t);
    ASSERT_LE(max_abs_diff(scaled, scaled_ref[i].unsqueeze(0)), kStepTolerance);
    auto eps = 0.9 * scaled + std::cos(t / 1000.0) * K;
    sample = scheduler->step(eps, t, sample, &generator).prev_sample;
    ASSERT_LE(max_abs_diff(sample, samples_ref[i].unsqueeze(0)), kStepTolerance);
  }
}

std::vector<std::string> case_keys() {
  std::vector<std::string> keys;
  for (const auto& c : cases()["cases"]) keys.push_back(c["key"]);
  return keys;
}

INSTANTIATE_TEST_SUITE_P(AllCases, SchedulerParity, ::testing::ValuesIn(case_keys()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name;
                           for (char ch : info.param) name += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
                           return name;
                         });

}  // namespace
}  // namespace workers
