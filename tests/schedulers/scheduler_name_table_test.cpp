#include "schedulers/managers/scheduler_name_table.h"

#include <gtest/gtest.h>

#include "utilities/error.h"

namespace workers {
namespace {

TEST(SchedulerNameTable, MapsA1111NamesToDiffusersClassesAndOptions) {
  SchedulerNameTable table;
  auto karras = table.resolve("DPM++ 2M Karras");
  EXPECT_EQ(karras.class_name, "DPMSolverMultistepScheduler");
  EXPECT_EQ(karras.overrides["use_karras_sigmas"], true);
  EXPECT_EQ(table.resolve("Euler a").class_name, "EulerAncestralDiscreteScheduler");
  EXPECT_EQ(table.resolve("DPM2 a").class_name, "KDPM2AncestralDiscreteScheduler");
  EXPECT_EQ(table.resolve("DPM++ SDE Karras").class_name, "DPMSolverSDEScheduler");
  EXPECT_EQ(table.resolve("UniPC").class_name, "UniPCMultistepScheduler");
}

TEST(SchedulerNameTable, IsCaseAndSpaceInsensitive) {
  SchedulerNameTable table;
  EXPECT_EQ(table.resolve("  dpm++   2m  KARRAS ").class_name, "DPMSolverMultistepScheduler");
  EXPECT_EQ(table.resolve("euler A").class_name, "EulerAncestralDiscreteScheduler");
}

TEST(SchedulerNameTable, AcceptsComfyUiAndClassNames) {
  SchedulerNameTable table;
  EXPECT_EQ(table.resolve("dpmpp_2m_sde").overrides["algorithm_type"], "sde-dpmsolver++");
  EXPECT_EQ(table.resolve("euler_ancestral").class_name, "EulerAncestralDiscreteScheduler");
  EXPECT_EQ(table.resolve("HeunDiscreteScheduler").class_name, "HeunDiscreteScheduler");
}

TEST(SchedulerNameTable, EveryListedNameResolves) {
  SchedulerNameTable table;
  for (const auto& name : table.names()) EXPECT_NO_THROW(table.resolve(name)) << name;
}

TEST(SchedulerNameTable, UnknownNameListsValidOnes) {
  try {
    SchedulerNameTable().resolve("Turbo Sampler");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidRequest);
    EXPECT_EQ(e.field(), "scheduler");
    EXPECT_NE(std::string(e.what()).find("DPM++ 2M Karras"), std::string::npos);
  }
}

}  // namespace
}  // namespace workers
