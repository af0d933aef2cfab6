#include <fstream>
#include <future>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "../inference/loop_fixture.h"
#include "instructors/communication_instructor.h"
#include "instructors/conditioning_instructor.h"
#include "instructors/device_instructor.h"
#include "instructors/inference_instructor.h"
#include "instructors/model_instructor.h"
#include "instructors/postprocessing_instructor.h"
#include "instructors/scheduler_instructor.h"
#include "mocks/mock_device_manager.h"
#include "mocks/mock_model_manager.h"
#include "mocks/mock_pipeline_manager.h"
#include "mocks/mock_scheduler_catalog.h"
#include "support/errors.h"

namespace workers {
namespace {

using ::testing::_;
using ::testing::NiceMock;
using ::testing::Return;
using testing_support::Loop;

ErrorCode code_of(const std::function<void()>& f) { return testing_support::catch_error(f).code; }

TEST(DeviceInstructor, SelectsThenAppliesAndReportsTheSelection) {
  auto manager = std::make_shared<NiceMock<MockDeviceManager>>();
  DeviceSelection chosen;
  chosen.threads = 3;
  DeviceConfig config;
  config.threads = 3;
  EXPECT_CALL(*manager, select(::testing::Field(&DeviceConfig::threads, 3))).WillOnce(Return(chosen));
  EXPECT_CALL(*manager, apply(::testing::Field(&DeviceSelection::threads, 3)));
  DeviceInstructor instructor(manager, config);
  instructor.initialize();
  auto status = instructor.status();
  EXPECT_EQ(status["selected"]["threads"], 3);
  EXPECT_EQ(status["cpu"]["model"], "Test CPU");
}

TEST(DeviceInstructor, PolicyErrorsPropagate) {
  auto manager = std::make_shared<NiceMock<MockDeviceManager>>();
  ON_CALL(*manager, select(_)).WillByDefault([](const DeviceConfig&) -> DeviceSelection {
    throw Error(ErrorCode::kConfigError, "no such device");
  });
  EXPECT_CALL(*manager, apply(_)).Times(0);
  DeviceInstructor instructor(manager, DeviceConfig{});
  EXPECT_EQ(code_of([&] { instructor.initialize(); }), ErrorCode::kConfigError);
}

TEST(ModelInstructor, WithoutAManagerRefusesLoadsButReportsStatus) {
  ModelInstructor instructor(nullptr, ModelConfig{});
  EXPECT_EQ(code_of([&] { instructor.load({"sdxl", "base"}); }), ErrorCode::kWorkerUnavailable);
  EXPECT_EQ(code_of([&] { instructor.unload({"sdxl", "base"}); }), ErrorCode::kWorkerUnavailable);
  EXPECT_EQ(instructor.status()["available"], false);
  EXPECT_TRUE(instructor.status()["loaded"].empty());
}

TEST(ModelInstructor, DelegatesToTheManagerAndSumsLoadedBytes) {
  auto manager = std::make_shared<NiceMock<MockModelManager>>();
  EXPECT_CALL(*manager, load(::testing::Field(&ModelReference::model, "sdxl")))
      .WillOnce(Return(LoadedModel{"sdxl", "base", "cpu", 10, "", "", ""}));
  EXPECT_CALL(*manager, unload(_)).WillOnce(Return(false));
  ON_CALL(*manager, loaded())
      .WillByDefault(Return(std::vector<LoadedModel>{{"a", "base", "cpu", 10, "", "", ""}, {"b", "vae", "cpu", 5, "", "", ""}}));
  ModelInstructor instructor(manager, ModelConfig{});
  EXPECT_EQ(instructor.load({"sdxl", "base"})["loaded"]["bytes"], 10);
  EXPECT_EQ(instructor.unload({"other", "base"})["unloaded"], false);
  EXPECT_EQ(instructor.status()["loaded_bytes"], 15);
}

TEST(SchedulerInstructor, RequestNameThenConfiguredDefaultThenModelDefault) {
  auto catalog = std::make_shared<NiceMock<MockSchedulerCatalog>>();
  GenerationRequest request;
  SchedulerConfig with_default;
  with_default.default_scheduler = "Euler";
  EXPECT_EQ(SchedulerInstructor(catalog, with_default).resolve(request)->class_name, "EulerDiscreteScheduler");
  EXPECT_FALSE(SchedulerInstructor(catalog, SchedulerConfig{}).resolve(request).has_value());
  request.scheduler = "Nope";
  EXPECT_EQ(code_of([&] { SchedulerInstructor(catalog, with_default).resolve(request); }),
            ErrorCode::kInvalidRequest);
}

TEST(ConditioningInstructor, ChecksClipSkip) {
  ConditioningInstructor instructor;
  GenerationRequest request;
  request.clip_skip = 2;
  request.clip_skip_style = "a1111";
  EXPECT_EQ(instructor.check(request), -2);
  request.clip_skip = 0;
  EXPECT_EQ(code_of([&] { instructor.check(request); }), ErrorCode::kInvalidRequest);
}

TEST(PostprocessingInstructor, OutputRootMustNotBeAFile) {
  PostprocessingConfig config;
  config.output_root = testing::TempDir() + "/postprocessing_root_file";
  { std::ofstream(config.output_root) << "x"; }
  EXPECT_EQ(code_of([&] { PostprocessingInstructor(config).initialize(); }), ErrorCode::kConfigError);
  std::remove(config.output_root.c_str());
  EXPECT_NO_THROW(PostprocessingInstructor(config).initialize());
}

TEST(CommunicationInstructor, ProgressCanBeSwitchedOff) {
  auto decoder = std::make_shared<MessageDecoder>(compat::default_translators(), RequestLimits{});
  CommunicationConfig off;
  off.progress_events = false;
  EXPECT_TRUE(CommunicationInstructor(decoder, off).progress("r", {1, 2, "denoising", {}}, 1.0).is_null());
  EXPECT_EQ(CommunicationInstructor(decoder, CommunicationConfig{}).progress("r", {1, 2, "denoising", {}}, 1.0)["step"],
            1);
  auto overflow = CommunicationInstructor(decoder, CommunicationConfig{}).overflow_error(99999999);
  EXPECT_NE(std::string(overflow.what()).find("max_line_bytes"), std::string::npos);
}

GenerationRequest request_named(const std::string& id, int steps = 3) {
  GenerationRequest r;
  r.request_id = id;
  r.model.base = "m";
  r.steps = steps;
  return r;
}

TEST(InferenceInstructor, WithoutAPipelineRefusesWithWorkerUnavailable) {
  Loop loop;
  InferenceInstructor instructor(nullptr, std::make_shared<JobQueue>(loop.io, 1, 4), MainInterfaceConfig{});
  EXPECT_EQ(code_of([&] { loop.run([&] { instructor.submit(request_named("a"), {}); }); }),
            ErrorCode::kWorkerUnavailable);
  EXPECT_EQ(instructor.status()["pipeline_available"], false);
}

TEST(InferenceInstructor, RunsThePipelineWithProgressAndReportsTheChosenSeed) {
  Loop loop;
  auto pipeline = std::make_shared<NiceMock<MockPipelineManager>>();
  std::promise<nlohmann::json> done;
  std::vector<int> steps;
  EXPECT_CALL(*pipeline, generate(::testing::Field(&GenerationRequest::seed, ::testing::Ne(std::nullopt)), _));
  InferenceInstructor instructor(pipeline, std::make_shared<JobQueue>(loop.io, 1, 4), MainInterfaceConfig{});
  JobCallbacks callbacks;
  callbacks.on_progress = [&](const ProgressUpdate& u) { steps.push_back(u.step); };
  callbacks.on_done = [&](GenerationResult r) { done.set_value(r.data); };
  callbacks.on_failed = [&](const Error& e) { ADD_FAILURE() << e.what(); };
  loop.run([&] { instructor.submit(request_named("a"), callbacks); });
  auto data = done.get_future().get();
  EXPECT_EQ(data["images"], 1);
  EXPECT_TRUE(data["seed"].is_number_unsigned());
  EXPECT_EQ(steps, (std::vector<int>{1, 2, 3}));
}

TEST(InferenceInstructor, GivenSeedIsPassedThroughAndTimeoutComesFromTheRequest) {
  Loop loop;
  auto pipeline = std::make_shared<NiceMock<MockPipelineManager>>();
  ON_CALL(*pipeline, generate(_, _)).WillByDefault([](const GenerationRequest& r, const JobContext& context) {
    EXPECT_EQ(r.seed, 1234u);
    while (!context.token().cancelled()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    context.check_cancelled();
    return GenerationResult{};
  });
  MainInterfaceConfig config;
  config.task_timeout = 3600;
  InferenceInstructor instructor(pipeline, std::make_shared<JobQueue>(loop.io, 1, 4), config);
  std::promise<ErrorCode> failed;
  JobCallbacks callbacks;
  callbacks.on_done = [](GenerationResult) { ADD_FAILURE() << "should time out"; };
  callbacks.on_failed = [&](const Error& e) { failed.set_value(e.code()); };
  auto request = request_named("t");
  request.seed = 1234;
  request.timeout_seconds = 0.05;
  loop.run([&] { instructor.submit(request, callbacks); });
  EXPECT_EQ(failed.get_future().get(), ErrorCode::kTimeoutError);
  std::promise<void> idle;
  loop.run([&] { instructor.when_idle([&] { idle.set_value(); }); });
  idle.get_future().wait();
}

}  // namespace
}  // namespace workers
