// Schedule windows as diffusers' SDXL pipelines compute them (values worked out by hand from
// StableDiffusionXL(Img2Img)Pipeline.get_timesteps and the denoising_end filter).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "mocks/mock_scheduler.h"
#include "schedulers/managers/scheduler_factory.h"
#include "schedulers/timestep_window.h"
#include "support/errors.h"

namespace workers {
namespace {

using testing_support::catch_error;
using ::testing::AtLeast;
using ::testing::Return;
using ::testing::StrictMock;

const nlohmann::json kSdxl = {{"beta_start", 0.00085}, {"beta_end", 0.012}, {"beta_schedule", "scaled_linear"},
                              {"num_train_timesteps", 1000}, {"steps_offset", 1}, {"timestep_spacing", "leading"}};

std::vector<double> values(const at::Tensor& t) {
  auto d = t.to(torch::kFloat64).contiguous();
  return {d.data_ptr<double>(), d.data_ptr<double>() + d.numel()};
}

TEST(TimestepWindow, FullScheduleByDefault) {
  auto euler = SchedulerFactory().create("EulerDiscreteScheduler", kSdxl);
  auto w = select_timesteps(*euler, 4);
  EXPECT_EQ(values(w.timesteps), (std::vector<double>{751, 501, 251, 1}));
  EXPECT_EQ(w.steps, 4);
  EXPECT_EQ(w.begin_index, 0);
}

TEST(TimestepWindow, StrengthSkipsTheNoisiestStepsAndSetsTheBeginIndex) {
  auto euler = SchedulerFactory().create("EulerDiscreteScheduler", kSdxl);
  auto w = select_timesteps(*euler, 4, 0.6);  // int(4 * 0.6) = 2 steps run
  EXPECT_EQ(values(w.timesteps), (std::vector<double>{251, 1}));
  EXPECT_EQ(w.steps, 2);
  euler->scale_model_input(torch::ones({1, 4, 2, 2}), w.timesteps[0].item<double>());
  EXPECT_EQ(euler->step_index(), 2);  // the run starts at schedule index 2
  auto heun = SchedulerFactory().create("HeunDiscreteScheduler", kSdxl);
  auto h = select_timesteps(*heun, 4, 0.6);  // second order: the index counts model calls
  EXPECT_EQ(values(h.timesteps), (std::vector<double>{251, 1, 1}));
  EXPECT_EQ(h.begin_index, 4);
}

TEST(TimestepWindow, EnsembleOfExpertsSplitsAtTheSameTimestep) {
  auto base = SchedulerFactory().create("EulerDiscreteScheduler", kSdxl);
  auto first = select_timesteps(*base, 4, 1.0, std::nullopt, 0.7);  // cutoff round(1000 - 700) = 300
  EXPECT_EQ(values(first.timesteps), (std::vector<double>{751, 501}));
  auto refiner = SchedulerFactory().create("EulerDiscreteScheduler", kSdxl);
  auto second = select_timesteps(*refiner, 4, 0.3, 0.7);  // denoising_start overrides strength
  EXPECT_EQ(values(second.timesteps), (std::vector<double>{251, 1}));
  EXPECT_EQ(second.begin_index, 2);
  auto heun = SchedulerFactory().create("HeunDiscreteScheduler", kSdxl);
  auto h = select_timesteps(*heun, 4, 1.0, 0.7);  // 4 calls below 300, even: one more for order 2
  EXPECT_EQ(values(h.timesteps), (std::vector<double>{501, 251, 251, 1, 1}));
}

TEST(TimestepWindow, BadValuesNameTheirField) {
  auto euler = SchedulerFactory().create("EulerDiscreteScheduler", kSdxl);
  EXPECT_EQ(catch_error([&] { select_timesteps(*euler, 4, 0.0); }).field, "strength");
  EXPECT_EQ(catch_error([&] { select_timesteps(*euler, 4, 1.5); }).field, "strength");
  EXPECT_EQ(catch_error([&] { select_timesteps(*euler, 4, 0.1); }).field, "strength");  // int(0.4) = 0 steps
  EXPECT_EQ(catch_error([&] { select_timesteps(*euler, 4, 1.0, 1.0); }).field, "denoising_start");
  EXPECT_EQ(catch_error([&] { select_timesteps(*euler, 4, 1.0, 0.8, 0.5); }).field, "denoising_start");
  EXPECT_EQ(catch_error([&] { select_timesteps(*euler, 4, 1.0, std::nullopt, 0.05); }).field, "denoising_end");
}

// The window is cut from whatever schedule the scheduler built, after it built it: the mock writes
// its schedule only inside set_timesteps, so reading timesteps() first would see an undefined one.
TEST(TimestepWindow, StrengthCutsTheSchedulersOwnTimestepsAfterSetTimesteps) {
  StrictMock<MockScheduler> scheduler;
  EXPECT_CALL(scheduler, set_timesteps(5)).WillOnce([&](std::int64_t) {
    scheduler.set_schedule(torch::tensor({900.0, 700.0, 500.0, 300.0, 100.0}, torch::kFloat64));
  });
  EXPECT_CALL(scheduler, order()).Times(AtLeast(1)).WillRepeatedly(Return(1));
  auto w = select_timesteps(scheduler, 5, 0.6);  // int(5 * 0.6) = 3 steps run, 2 skipped
  EXPECT_EQ(values(w.timesteps), (std::vector<double>{500, 300, 100}));
  EXPECT_EQ(w.steps, 3);
  EXPECT_EQ(w.begin_index, 2);
  EXPECT_EQ(scheduler.begin_index(), 2);  // the scheduler is told where the run starts
}

TEST(TimestepWindow, SecondOrderSchedulerKeepsAnOddCallCountFromDenoisingStart) {
  StrictMock<MockScheduler> scheduler;
  EXPECT_CALL(scheduler, set_timesteps(4)).WillOnce([&](std::int64_t) {
    // Heun-shaped: every timestep after the first twice (two model calls per step).
    scheduler.set_schedule(torch::tensor({900.0, 700.0, 700.0, 500.0, 500.0, 300.0, 300.0}, torch::kFloat64));
  });
  EXPECT_CALL(scheduler, order()).Times(AtLeast(1)).WillRepeatedly(Return(2));
  auto w = select_timesteps(scheduler, 4, 1.0, 0.55);  // cutoff 450: two calls below, even: one more
  EXPECT_EQ(values(w.timesteps), (std::vector<double>{500, 300, 300}));
  EXPECT_EQ(w.steps, 3);
  EXPECT_EQ(w.begin_index, 4);
  EXPECT_EQ(scheduler.begin_index(), 4);
}

TEST(TimestepWindow, DenoisingEndCutsAtTheSchedulersTrainingLength) {
  StrictMock<MockScheduler> scheduler;
  EXPECT_CALL(scheduler, set_timesteps(5)).WillOnce([&](std::int64_t) {
    scheduler.set_schedule(torch::tensor({450.0, 350.0, 250.0, 150.0, 50.0}, torch::kFloat64), {}, 500);
  });
  EXPECT_CALL(scheduler, order()).Times(AtLeast(1)).WillRepeatedly(Return(1));
  auto w = select_timesteps(scheduler, 5, 1.0, std::nullopt, 0.5);  // cutoff round(500 - 250) = 250
  EXPECT_EQ(values(w.timesteps), (std::vector<double>{450, 350, 250}));
  EXPECT_EQ(w.steps, 3);
  EXPECT_EQ(w.begin_index, 0);
  EXPECT_EQ(scheduler.begin_index(), -1);  // a full-strength base run leaves the start unset
}

}  // namespace
}  // namespace workers
