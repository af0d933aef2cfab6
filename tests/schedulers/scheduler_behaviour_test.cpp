// Behaviour beyond the fixtures: add_noise formulas, begin index (img2img), second-order
// bookkeeping, DPM++ SDE (no diffusers fixture: torchsde noise), v-prediction and zero SNR.
#include <cmath>

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "schedulers/managers/scheduler_factory.h"
#include "support/tensor_checks.h"
#include "utilities/error.h"

namespace workers {
namespace {

using testing_support::max_abs_diff;

const nlohmann::json kSdxl = {{"beta_start", 0.00085}, {"beta_end", 0.012}, {"beta_schedule", "scaled_linear"},
                              {"num_train_timesteps", 1000}, {"steps_offset", 1}, {"timestep_spacing", "leading"}};

double scaled_linear_acp(int t) {
  double acp = 1;
  for (int i = 0; i <= t; ++i) {
    const double b = std::sqrt(0.00085) + (std::sqrt(0.012) - std::sqrt(0.00085)) * i / 999.0;
    acp *= 1 - b * b;
  }
  return acp;
}

TEST(SchedulerBehaviour, AddNoiseFollowsEachFamilysForwardProcess) {
  c10::InferenceMode inference;
  auto x = torch::randn({1, 4, 8, 8}), n = torch::randn({1, 4, 8, 8});
  auto ddim = SchedulerFactory().create("DDIMScheduler", kSdxl);
  ddim->set_timesteps(10);
  const double a = scaled_linear_acp(501);
  EXPECT_LE(max_abs_diff(ddim->add_noise(x, n, 501), std::sqrt(a) * x + std::sqrt(1 - a) * n), 1e-5);
  auto euler = SchedulerFactory().create("EulerDiscreteScheduler", kSdxl);
  euler->set_timesteps(10);
  const double t = euler->timesteps()[3].item<double>();
  const double sigma = euler->sigmas()[3].item<double>();
  EXPECT_LE(max_abs_diff(euler->add_noise(x, n, t), x + sigma * n), 1e-5);
}

TEST(SchedulerBehaviour, BeginIndexStartsMidSchedule) {
  c10::InferenceMode inference;
  auto euler = SchedulerFactory().create("EulerDiscreteScheduler", kSdxl);
  euler->set_timesteps(10);
  euler->set_begin_index(4);
  auto x = torch::ones({1, 4, 2, 2});
  const double t = euler->timesteps()[4].item<double>();
  const double sigma = euler->sigmas()[4].item<double>();
  EXPECT_NEAR(euler->scale_model_input(x, t)[0][0][0][0].item<double>(), 1 / std::sqrt(sigma * sigma + 1), 1e-6);
  EXPECT_EQ(euler->step_index(), 4);
}

TEST(SchedulerBehaviour, SecondOrderSchedulersRunTwoCallsPerStep) {
  for (const char* name : {"HeunDiscreteScheduler", "KDPM2DiscreteScheduler", "KDPM2AncestralDiscreteScheduler",
                           "DPMSolverSDEScheduler"}) {
    auto s = SchedulerFactory().create(name, kSdxl);
    s->set_timesteps(7);
    EXPECT_EQ(s->order(), 2) << name;
    EXPECT_EQ(s->timesteps().size(0), 13) << name;
  }
}

TEST(SchedulerBehaviour, DpmSdeIsDeterministicPerSeedAndVariesAcrossSeeds) {
  c10::InferenceMode inference;
  auto run = [](std::uint64_t seed) {
    auto s = SchedulerFactory().create_named("DPM++ SDE Karras", kSdxl);
    s->set_timesteps(8);
    auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
    torch::manual_seed(0);
    auto K = torch::randn({1, 4, 8, 8});
    auto x = torch::randn({1, 4, 8, 8}) * s->init_noise_sigma();
    for (std::int64_t i = 0; i < s->timesteps().size(0); ++i) {
      const double t = s->timesteps()[i].item<double>();
      auto eps = 0.9 * s->scale_model_input(x, t) + std::cos(t / 1000) * K;
      x = s->step(eps, t, x, &generator).prev_sample;
    }
    return x;
  };
  auto a = run(1), b = run(1), c = run(2);
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_GT(max_abs_diff(a, c), 1e-3);
  EXPECT_TRUE(torch::isfinite(a).all().item<bool>());
}

// A perfect denoiser for a single point x0: eps = (x - x0) / sigma in k-diffusion terms. Every
// sigma-space sampler that ends at sigma 0 must land on x0, stochastic ones included.
TEST(SchedulerBehaviour, SigmaSamplersConvergeToTheOraclesPoint) {
  c10::InferenceMode inference;
  torch::manual_seed(3);
  auto x0 = torch::randn({1, 4, 4, 4});
  for (const char* name : {"EulerDiscreteScheduler", "EulerAncestralDiscreteScheduler", "HeunDiscreteScheduler",
                           "LMSDiscreteScheduler", "KDPM2DiscreteScheduler", "KDPM2AncestralDiscreteScheduler",
                           "DPMSolverSDEScheduler"}) {
    SCOPED_TRACE(name);
    auto s = SchedulerFactory().create(name, kSdxl);
    s->set_timesteps(12);
    auto generator = at::make_generator<at::CPUGeneratorImpl>(5);
    auto x = torch::randn(x0.sizes()) * s->init_noise_sigma();
    for (std::int64_t i = 0; i < s->timesteps().size(0); ++i) {
      const double t = s->timesteps()[i].item<double>();
      auto scaled = s->scale_model_input(x, t);
      // The sampler's current sigma is implied by its input scaling: scaled = x / sqrt(sigma^2 + 1).
      const double ratio = (x.abs().sum() / scaled.abs().sum()).item<double>();
      const double sigma = std::sqrt(std::max(ratio * ratio - 1, 1e-12));
      x = s->step((x - x0) / sigma, t, x, &generator).prev_sample;
    }
    EXPECT_LE(max_abs_diff(x, x0), 1e-3);
  }
}

TEST(SchedulerBehaviour, VPredictionAndZeroSnrRun) {
  c10::InferenceMode inference;
  auto config = kSdxl;
  config["prediction_type"] = "v_prediction";
  config["rescale_betas_zero_snr"] = true;
  config["timestep_spacing"] = "trailing";
  for (const char* name : {"EulerDiscreteScheduler", "DDIMScheduler", "DPMSolverMultistepScheduler",
                           "UniPCMultistepScheduler"}) {
    SCOPED_TRACE(name);
    auto s = SchedulerFactory().create(name, config);
    s->set_timesteps(10);
    EXPECT_EQ(s->timesteps()[0].item<double>(), 999);
    auto generator = at::make_generator<at::CPUGeneratorImpl>(1);
    auto x = torch::randn({1, 4, 4, 4}) * s->init_noise_sigma();
    for (std::int64_t i = 0; i < s->timesteps().size(0); ++i) {
      const double t = s->timesteps()[i].item<double>();
      x = s->step(0.1 * s->scale_model_input(x, t), t, x, &generator).prev_sample;
    }
    EXPECT_TRUE(torch::isfinite(x).all().item<bool>());
  }
}

}  // namespace
}  // namespace workers

namespace workers {
namespace {

TEST(SchedulerBehaviour, PndmWithRungeKuttaWarmUpHasNinePlusNTimesteps) {
  auto config = kSdxl;
  config["skip_prk_steps"] = false;
  auto s = SchedulerFactory().create("PNDMScheduler", config);
  s->set_timesteps(50);
  ASSERT_EQ(s->timesteps().size(0), 59);
  EXPECT_EQ(s->timesteps()[0].item<double>(), 981);
  EXPECT_EQ(s->timesteps()[1].item<double>(), 971);  // 961 + T // N // 2
}

}  // namespace
}  // namespace workers

namespace workers {
namespace {

TEST(SchedulerBehaviour, LambdaClippingDropsTheNoisiestTimesteps) {
  auto config = kSdxl;
  config["timestep_spacing"] = "linspace";
  auto plain = SchedulerFactory().create("DPMSolverMultistepScheduler", config);
  config["lambda_min_clipped"] = -2.0;  // log-SNR below -2 is cut off the top of the grid
  auto clipped = SchedulerFactory().create("DPMSolverMultistepScheduler", config);
  plain->set_timesteps(10);
  clipped->set_timesteps(10);
  EXPECT_EQ(plain->timesteps()[0].item<double>(), 999);  // linspace over n + 1 points, the last (0) dropped
  EXPECT_EQ(plain->timesteps()[9].item<double>(), 100);
  EXPECT_LT(clipped->timesteps()[0].item<double>(), plain->timesteps()[0].item<double>());
}

TEST(SchedulerBehaviour, ExponentialSigmasAreLogUniform) {
  auto config = kSdxl;
  config["use_exponential_sigmas"] = true;
  auto s = SchedulerFactory().create("EulerDiscreteScheduler", config);
  s->set_timesteps(6);
  const auto sigmas = s->sigmas();
  ASSERT_EQ(sigmas.size(0), 7);
  const double ratio = sigmas[1].item<double>() / sigmas[0].item<double>();
  for (int i = 1; i < 5; ++i) EXPECT_NEAR(sigmas[i + 1].item<double>() / sigmas[i].item<double>(), ratio, 1e-5);
  EXPECT_EQ(sigmas[6].item<double>(), 0.0);
  config["use_karras_sigmas"] = true;
  EXPECT_THROW(SchedulerFactory().create("EulerDiscreteScheduler", config), Error);
}

TEST(SchedulerBehaviour, EulerAncestralRunsOverKarrasAndExponentialSigmasAsEulerDoes) {
  c10::InferenceMode inference;
  for (const char* ramp : {"Karras", "Exponential"}) {
    auto ancestral = SchedulerFactory().create_named(std::string("Euler a ") + ramp, kSdxl);
    auto euler = SchedulerFactory().create_named(std::string("Euler ") + ramp, kSdxl);
    auto plain = SchedulerFactory().create_named("Euler a", kSdxl);
    ancestral->set_timesteps(9);
    euler->set_timesteps(9);
    plain->set_timesteps(9);
    EXPECT_TRUE(torch::equal(ancestral->sigmas(), euler->sigmas())) << ramp;
    EXPECT_TRUE(torch::equal(ancestral->timesteps(), euler->timesteps())) << ramp;
    EXPECT_FALSE(torch::equal(ancestral->sigmas(), plain->sigmas())) << ramp;
    auto generator = at::make_generator<at::CPUGeneratorImpl>(3);
    auto x = torch::ones({1, 4, 2, 2}) * ancestral->init_noise_sigma();
    for (std::int64_t i = 0; i < ancestral->timesteps().size(0); ++i) {
      const double t = ancestral->timesteps()[i].item<double>();
      x = ancestral->step(0.1 * ancestral->scale_model_input(x, t), t, x, &generator).prev_sample;
    }
    EXPECT_TRUE(torch::isfinite(x).all().item<bool>()) << ramp;
  }
}

}  // namespace
}  // namespace workers
