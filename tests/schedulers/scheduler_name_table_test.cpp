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

TEST(SchedulerNameTable, SplitsA1111ScheduleTypesOffSamplerNames) {
  SchedulerNameTable table;
  auto karras = table.resolve("Euler a Karras");
  EXPECT_EQ(karras.class_name, "EulerAncestralDiscreteScheduler");
  EXPECT_EQ(karras.overrides["use_karras_sigmas"], true);
  auto exponential = table.resolve("heun exponential");
  EXPECT_EQ(exponential.class_name, "HeunDiscreteScheduler");
  EXPECT_EQ(exponential.overrides["use_exponential_sigmas"], true);
  auto sgm = table.resolve("DPM++ 2M SGM Uniform");
  EXPECT_EQ(sgm.class_name, "DPMSolverMultistepScheduler");
  EXPECT_EQ(sgm.overrides["timestep_spacing"], "trailing");
  EXPECT_EQ(sgm.overrides["use_karras_sigmas"], false);
  EXPECT_EQ(table.resolve("Euler Uniform").overrides["timestep_spacing"], "linspace");
  EXPECT_EQ(table.resolve("Euler DDIM").overrides["steps_offset"], 1);
  // Only where the class computes the schedule: DPM-Solver has no exponential sigmas, DDIM no ramp.
  EXPECT_THROW(table.resolve("DPM++ 2M Exponential"), Error);
  EXPECT_THROW(table.resolve("DDIM Karras"), Error);
  EXPECT_THROW(table.resolve("DPM++ 2M Karras Karras"), Error);
}

const nlohmann::json kSdxlConfig = {{"_class_name", "EulerDiscreteScheduler"},
                                    {"timestep_spacing", "leading"},
                                    {"steps_offset", 1}};

SamplerLabels labels_of(const std::string& name) {
  const auto choice = SchedulerNameTable().resolve(name);
  auto config = kSdxlConfig;
  config.update(choice.overrides);
  return sampler_labels(choice.class_name, config);
}

TEST(SchedulerNameTable, LabelsNameTheSamplerAndScheduleAsA1111AndComfyUiDo) {
  auto plain = labels_of("DPM++ 2M");
  auto karras = labels_of("DPM++ 2M Karras");
  EXPECT_EQ(plain.a1111_sampler, "DPM++ 2M");
  EXPECT_EQ(karras.a1111_sampler, "DPM++ 2M");
  EXPECT_EQ(karras.a1111_schedule, "Karras");
  EXPECT_EQ(plain.a1111_schedule, "DDIM");  // SDXL's leading spacing with steps_offset 1
  EXPECT_EQ(karras.comfyui_sampler, "dpmpp_2m");
  EXPECT_EQ(karras.comfyui_scheduler, "karras");
  EXPECT_EQ(plain.comfyui_scheduler, "ddim_uniform");
  auto model_default = sampler_labels("EulerDiscreteScheduler", kSdxlConfig);
  EXPECT_EQ(model_default.a1111_sampler, "Euler");
  EXPECT_EQ(model_default.comfyui_sampler, "euler");
  EXPECT_EQ(labels_of("dpmpp_2m_sde").a1111_sampler, "DPM++ 2M SDE");
  EXPECT_EQ(labels_of("dpmpp_2m_sde").comfyui_sampler, "dpmpp_2m_sde");
  EXPECT_EQ(labels_of("EulerAncestralDiscreteScheduler").a1111_sampler, "Euler a");
  EXPECT_EQ(labels_of("Euler a Karras").a1111_schedule, "Karras");
  EXPECT_EQ(labels_of("Euler a Karras").comfyui_sampler, "euler_ancestral");
  EXPECT_EQ(labels_of("Heun Exponential").comfyui_scheduler, "exponential");
  EXPECT_EQ(labels_of("Euler Uniform").a1111_schedule, "Uniform");
  EXPECT_EQ(labels_of("Euler Uniform").comfyui_scheduler, "normal");
  EXPECT_EQ(labels_of("UniPC SGM Uniform").comfyui_scheduler, "sgm_uniform");
  EXPECT_EQ(labels_of("PLMS").a1111_sampler, "PLMS");
  EXPECT_EQ(labels_of("DPM2 a Karras").a1111_sampler, "DPM2 a");
}

// What a file says must run the same maths when typed back: every name, and every name with each
// schedule type it accepts, survives resolve -> labels -> resolve("<sampler> <schedule>").
TEST(SchedulerNameTable, WrittenLabelsResolveBackToTheSameSettings) {
  SchedulerNameTable table;
  std::vector<std::string> names = table.names();
  for (const auto& base : table.names()) {
    for (const char* type : {"Karras", "Exponential", "Uniform", "SGM Uniform", "DDIM"}) {
      try {
        table.resolve(base + " " + type);
        names.push_back(base + " " + type);
      } catch (const Error&) {
      }
    }
  }
  for (const auto& name : names) {
    const auto first = labels_of(name);
    const auto again = labels_of(first.a1111_sampler + " " + first.a1111_schedule);
    EXPECT_EQ(again.a1111_sampler, first.a1111_sampler) << name;
    EXPECT_EQ(again.a1111_schedule, first.a1111_schedule) << name;
    EXPECT_EQ(again.comfyui_sampler, first.comfyui_sampler) << name;
    EXPECT_EQ(again.comfyui_scheduler, first.comfyui_scheduler) << name;
  }
}

}  // namespace
}  // namespace workers
