// Building schedulers by class and by the names users type; config validation.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "schedulers/managers/scheduler_factory.h"
#include "support/errors.h"

namespace workers {
namespace {

using testing_support::catch_error;

const nlohmann::json kSdxl = {{"beta_start", 0.00085}, {"beta_end", 0.012}, {"beta_schedule", "scaled_linear"},
                              {"num_train_timesteps", 1000}, {"steps_offset", 1}, {"timestep_spacing", "leading"},
                              {"skip_prk_steps", true}, {"_class_name", "EulerDiscreteScheduler"},
                              {"some_future_key", 3}};

TEST(SchedulerFactory, EveryRegisteredClassBuildsAndSchedules) {
  SchedulerFactory factory;
  EXPECT_EQ(SchedulerFactory::class_names().size(), 14u);
  for (const auto& name : SchedulerFactory::class_names()) {
    SCOPED_TRACE(name);
    auto s = factory.create(name, kSdxl);  // unknown keys are ignored
    EXPECT_EQ(s->class_name(), name);
    s->set_timesteps(10);
    // Second-order samplers call the model 2n - 1 times; PNDM repeats its second timestep.
    const std::int64_t expected = name == "PNDMScheduler" ? 11 : 10 * s->order() - (s->order() - 1);
    EXPECT_EQ(s->timesteps().size(0), expected);
  }
}

TEST(SchedulerFactory, UnknownClassListsTheKnownOnes) {
  auto caught = catch_error([] { SchedulerFactory().create("FlowMatchEulerDiscreteScheduler"); });
  EXPECT_EQ(caught.code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(caught.field, "scheduler");
  EXPECT_NE(caught.message.find("UniPCMultistepScheduler"), std::string::npos);
}

TEST(SchedulerFactory, UserNamesApplyTheirOverrides) {
  SchedulerFactory factory;
  auto karras = factory.create_named("dpm++ 2m KARRAS", kSdxl);
  auto plain = factory.create_named("DPM++ 2M", kSdxl);
  EXPECT_EQ(karras->class_name(), "DPMSolverMultistepScheduler");
  karras->set_timesteps(20);
  plain->set_timesteps(20);
  EXPECT_FALSE(torch::equal(karras->timesteps(), plain->timesteps()));
  for (const char* name : {"Euler a", "Euler", "DDIM", "Heun", "UniPC", "LMS", "PNDM", "DPM++ SDE Karras", "DPM2",
                           "DPM2 a", "DEIS", "DPM++ 2M SDE Karras"}) {
    EXPECT_NO_THROW(factory.create_named(name, kSdxl)) << name;
  }
  EXPECT_EQ(catch_error([&] { factory.create_named("Euler b", kSdxl); }).code, ErrorCode::kInvalidRequest);
}

TEST(SchedulerFactory, BadConfigValuesNameTheKey) {
  SchedulerFactory factory;
  auto schedule = catch_error([&] { factory.create("EulerDiscreteScheduler", {{"beta_schedule", "sigmoid"}}); });
  EXPECT_EQ(schedule.field, "scheduler_config.beta_schedule");
  EXPECT_NE(schedule.message.find("scaled_linear"), std::string::npos);
  EXPECT_EQ(catch_error([&] { factory.create("DDIMScheduler", {{"num_train_timesteps", "1000"}}); }).field,
            "scheduler_config.num_train_timesteps");
  EXPECT_EQ(catch_error([&] { factory.create("DPMSolverMultistepScheduler", {{"solver_order", 5}}); }).field,
            "scheduler_config.solver_order");
  EXPECT_EQ(catch_error([&] { factory.create("EulerDiscreteScheduler", {{"prediction_type", "flow"}}); }).field,
            "scheduler_config.prediction_type");
  auto steps = catch_error([&] { factory.create("DDIMScheduler")->set_timesteps(0); });
  EXPECT_EQ(steps.field, "steps");
  auto too_many = catch_error([&] { factory.create("DDIMScheduler")->set_timesteps(1001); });
  EXPECT_EQ(too_many.field, "steps");
}

}  // namespace
}  // namespace workers
