#include <atomic>
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
#include "instructors/scheduler_instructor.h"
#include "mocks/mock_device_manager.h"
#include "mocks/mock_batch_manager.h"
#include "mocks/mock_conditioning_manager.h"
#include "mocks/mock_memory_manager.h"
#include "mocks/mock_model_managers.h"
#include "mocks/mock_pipeline_manager.h"
#include "mocks/mock_scheduler_catalog.h"
#include "support/errors.h"

namespace workers {
namespace {

using ::testing::_;
using ::testing::StrictMock;
using ::testing::Field;
using ::testing::Return;
using testing_support::Loop;

ErrorCode code_of(const std::function<void()>& f) { return testing_support::catch_error(f).code; }

TEST(DeviceInstructor, SelectsThenAppliesAndReportsTheSelection) {
  auto manager = std::make_shared<StrictMock<MockDeviceManager>>();
  DeviceSelection chosen;
  chosen.threads = 3;
  DeviceConfig config;
  config.threads = 3;
  EXPECT_CALL(*manager, select(::testing::Field(&DeviceConfig::threads, 3))).WillOnce(Return(chosen));
  EXPECT_CALL(*manager, apply(::testing::Field(&DeviceSelection::threads, 3)));
  EXPECT_CALL(*manager, inventory());
  DeviceInstructor instructor(manager, config);
  instructor.initialize();
  auto status = instructor.status();
  EXPECT_EQ(status["selected"]["threads"], 3);
  EXPECT_EQ(status["cpu"]["model"], "Test CPU");
}

TEST(DeviceInstructor, PolicyErrorsPropagate) {
  auto manager = std::make_shared<StrictMock<MockDeviceManager>>();
  EXPECT_CALL(*manager, select(_)).WillOnce([](const DeviceConfig&) -> DeviceSelection {
    throw Error(ErrorCode::kConfigError, "no such device");
  });
  EXPECT_CALL(*manager, apply(_)).Times(0);
  DeviceInstructor instructor(manager, DeviceConfig{});
  EXPECT_EQ(code_of([&] { instructor.initialize(); }), ErrorCode::kConfigError);
}

TEST(ModelInstructor, WithoutAManagerRefusesLoadsButReportsStatus) {
  ModelInstructor instructor(ModelManagers{}, nullptr, ModelConfig{});
  EXPECT_EQ(code_of([&] { instructor.load({"sdxl", "base"}); }), ErrorCode::kWorkerUnavailable);
  EXPECT_EQ(code_of([&] { instructor.unload({"sdxl", "base"}); }), ErrorCode::kWorkerUnavailable);
  JobPlan plan;
  EXPECT_EQ(code_of([&] { instructor.resolve(plan); }), ErrorCode::kWorkerUnavailable);
  EXPECT_EQ(instructor.status()["available"], false);
  EXPECT_TRUE(instructor.status()["loaded"].empty());
}

ModelHandle handle(const std::string& path, ModelKind kind) {
  ModelHandle h;
  h.reference = path;
  h.path = "/models/" + path;
  h.kind = kind;
  return h;
}

TEST(ModelInstructor, RoutesEachComponentToItsManagerAndSumsResidentBytes) {
  MockModelManagers models;
  auto memory = std::make_shared<StrictMock<MockMemoryManager>>();
  ModelInstructor instructor(models.roles(), memory, ModelConfig{});
  const auto base = handle("sdxl", ModelKind::kSdxlBase);
  EXPECT_CALL(*models.resolver, open("sdxl", "model", "")).WillOnce(Return(base));
  EXPECT_CALL(*models.unet, unet(Field(&ModelHandle::path, base.path), Residency::kResident)).WillOnce(Return(nullptr));
  EXPECT_CALL(*models.text_encoders, text_encoders(Field(&ModelHandle::path, base.path), Residency::kResident)).WillOnce(Return(nullptr));
  EXPECT_CALL(*models.vae, vae(Field(&ModelHandle::path, base.path))).WillOnce(Return(nullptr));
  const std::vector<CacheEntryInfo> resident{{"k1", base.path, "unet", 10, false}, {"k2", "/other", "vae", 5, false}};
  EXPECT_CALL(*memory, resident()).WillRepeatedly(Return(resident));
  EXPECT_CALL(*models.resolver, device()).WillRepeatedly(Return("cpu"));
  EXPECT_EQ(instructor.load_response({"sdxl", "base"})["loaded"]["bytes"], 10);
  // A VAE request loads the VAE only; a LoRA goes to the LoRA manager; a ControlNet to its own.
  const auto vae = handle("my-vae", ModelKind::kVae);
  EXPECT_CALL(*models.resolver, open_vae("my-vae", "model")).WillOnce(Return(vae));
  EXPECT_CALL(*models.vae, vae(Field(&ModelHandle::path, vae.path))).WillOnce(Return(nullptr));
  EXPECT_EQ(instructor.load({"my-vae", "vae"}).kind, "vae");
  EXPECT_CALL(*models.loras, resolve("style", "model")).WillOnce(Return("/loras/style.safetensors"));
  EXPECT_CALL(*models.loras, adapter_at("/loras/style.safetensors", "style", "model")).WillOnce(Return(nullptr));
  EXPECT_EQ(instructor.load({"style", "lora"}).kind, "lora");
  const auto net = handle("canny", ModelKind::kControlNet);
  EXPECT_CALL(*models.controlnets, open("canny", "model")).WillOnce(Return(net));
  EXPECT_CALL(*models.controlnets, controlnet(Field(&ModelHandle::path, net.path))).WillOnce(Return(nullptr));
  EXPECT_EQ(instructor.load({"canny", "controlnet"}).kind, "controlnet");
  // A base model named as a refiner is refused before anything loads.
  EXPECT_CALL(*models.resolver, open("sdxl", "model", "")).WillOnce(Return(base));
  EXPECT_EQ(code_of([&] { instructor.load({"sdxl", "refiner"}); }), ErrorCode::kInvalidRequest);
  // Unloads are the memory manager's: it releases every component of the model.
  EXPECT_CALL(*models.resolver, open("other", "model", "")).WillOnce(Return(handle("other", ModelKind::kSdxlBase)));
  EXPECT_CALL(*memory, release("/models/other")).WillOnce(Return(0));
  EXPECT_EQ(instructor.unload_response({"other", "base"})["unloaded"], false);
  EXPECT_CALL(*models.resolver, opened(_)).WillRepeatedly(Return(std::nullopt));
  EXPECT_CALL(*memory, cache_budget()).WillOnce(Return(1000));
  const auto status = instructor.status();
  EXPECT_EQ(status["loaded_bytes"], 15);
  EXPECT_EQ(status["cache_bytes"], 1000);
}

TEST(ModelInstructor, ResolvesAJobsModelsStackAndControlNetsOnce) {
  MockModelManagers models;
  auto memory = std::make_shared<StrictMock<MockMemoryManager>>();
  ModelConfig config;
  config.controlnet_models = {{"canny", "canny-net"}};
  ModelInstructor instructor(models.roles(), memory, config);
  JobPlan plan;
  auto& r = plan.request;
  r.model.base = "sdxl";
  r.model.refiner = "refiner";
  r.model.vae = "fix-vae";
  r.init_image = "in.png";
  r.loras = {LoraSpec{"a", 0.5, true}, LoraSpec{"off", 1.0, false}, LoraSpec{"zero", 0.0, true}};
  r.lora_scale = 2.0;
  r.controlnets = {ControlNetSpec{"canny", "", "", "", std::nullopt, std::nullopt, 1.0, 0.0, 1.0}};
  plan.conditioning.control_preprocessors = {"canny"};
  EXPECT_CALL(*models.resolver, open("sdxl", "model.base", "")).WillOnce(Return(handle("sdxl", ModelKind::kSdxlBase)));
  EXPECT_CALL(*models.resolver, open("refiner", "model.refiner", ""))
      .WillOnce(Return(handle("refiner", ModelKind::kSdxlRefiner)));
  EXPECT_CALL(*models.resolver, open_vae("fix-vae", "model.vae")).WillOnce(Return(handle("fix-vae", ModelKind::kVae)));
  EXPECT_CALL(*models.loras, resolve("a", "loras[0].name")).WillOnce(Return("/loras/a.safetensors"));
  EXPECT_CALL(*models.controlnets, open("canny-net", "controlnets[0].model"))
      .WillOnce(Return(handle("canny-net", ModelKind::kControlNet)));
  instructor.resolve(plan);
  ASSERT_TRUE(plan.models);
  EXPECT_EQ(plan.models->vae.path, "/models/fix-vae");
  ASSERT_EQ(plan.models->loras.size(), 1u);  // disabled and zero-weight adapters are not looked up
  EXPECT_EQ(plan.models->loras[0].weight, 1.0);
  EXPECT_EQ(plan.models->loras[0].field, "loras[0]");
  ASSERT_EQ(plan.models->controls.size(), 1u);
  EXPECT_EQ(plan.models->controls[0].image, "in.png");  // the map comes from init_image
  EXPECT_EQ(plan.models->controls[0].image_field, "init_image");
  EXPECT_EQ(plan.models->controls[0].preprocess, "canny");
  // A refiner as the base model is refused.
  EXPECT_CALL(*models.resolver, open("refiner", "model.base", "")).WillOnce(Return(handle("refiner", ModelKind::kSdxlRefiner)));
  r.model.base = "refiner";
  const auto e = testing_support::catch_error([&] { instructor.resolve(plan); });
  EXPECT_EQ(e.field, "model.base");
}

TEST(SchedulerInstructor, RequestNameThenConfiguredDefaultThenModelDefault) {
  auto catalog = std::make_shared<StrictMock<MockSchedulerCatalog>>();
  EXPECT_CALL(*catalog, resolve("Euler")).Times(1);
  EXPECT_CALL(*catalog, resolve("Nope")).Times(1);
  GenerationRequest request;
  SchedulerConfig with_default;
  with_default.default_scheduler = "Euler";
  const auto decided = SchedulerInstructor(catalog, with_default).resolve(request);
  EXPECT_EQ(decided.label, "Euler");
  EXPECT_EQ(decided.choice->class_name, "EulerDiscreteScheduler");
  EXPECT_FALSE(SchedulerInstructor(catalog, SchedulerConfig{}).resolve(request).choice.has_value());
  request.scheduler = "Nope";
  EXPECT_EQ(code_of([&] { SchedulerInstructor(catalog, with_default).resolve(request); }),
            ErrorCode::kInvalidRequest);
}

TEST(ConditioningInstructor, DecisionsComeFromItsManager) {
  auto manager = std::make_shared<StrictMock<MockConditioningManager>>();
  GenerationRequest request;
  request.clip_skip = 2;
  ConditioningDecision decided;
  decided.clip_hidden_index = -4;
  EXPECT_CALL(*manager, decide(Field(&GenerationRequest::clip_skip, 2))).WillOnce(Return(decided));
  EXPECT_CALL(*manager, status());
  ConditioningInstructor instructor(manager);
  EXPECT_EQ(instructor.check(request).clip_hidden_index, -4);
  EXPECT_EQ(instructor.status()["clip_skip_styles"].size(), 2u);
  EXPECT_THROW(ConditioningInstructor(nullptr), std::invalid_argument);
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

JobPlan job_named(const std::string& id, int steps = 3) {
  JobPlan plan;
  plan.request.request_id = id;
  plan.request.model.base = "m";
  plan.request.steps = steps;
  return plan;
}

// An instructor whose model and output stages record that they ran.
struct InferenceUnderTest {
  InferenceUnderTest(Loop& loop, std::shared_ptr<PipelineManager> pipeline, MainInterfaceConfig config = {})
      : instructor(std::move(pipeline), batch, std::make_shared<JobQueue>(loop.io, 1, 4), config,
                   [this](JobPlan& plan) {
                     ++resolved;
                     plan.models = ResolvedModels{};
                   },
                   [this](const JobPlan&, GenerationResult& result) { result.data["written"] = ++written; }) {}
  std::shared_ptr<StrictMock<MockBatchManager>> batch = std::make_shared<StrictMock<MockBatchManager>>();
  std::atomic<int> resolved{0};
  std::atomic<int> written{0};
  InferenceInstructor instructor;
};

TEST(InferenceInstructor, WithoutAPipelineRefusesWithWorkerUnavailable) {
  Loop loop;
  InferenceUnderTest t(loop, nullptr);
  EXPECT_EQ(code_of([&] { loop.run([&] { t.instructor.submit(job_named("a"), {}); }); }),
            ErrorCode::kWorkerUnavailable);
  EXPECT_EQ(t.instructor.status()["pipeline_available"], false);
}

TEST(InferenceInstructor, DecidesSeedAndChunksThenResolvesRunsAndWritesOnTheComputeThread) {
  Loop loop;
  auto pipeline = std::make_shared<StrictMock<MockPipelineManager>>();
  InferenceUnderTest t(loop, pipeline);
  std::promise<nlohmann::json> done;
  std::vector<int> steps;
  EXPECT_CALL(*t.batch, split(Field(&GenerationRequest::seed, ::testing::Ne(std::nullopt))));
  EXPECT_CALL(*pipeline, generate(::testing::AllOf(Field(&JobPlan::chunks, ::testing::SizeIs(1)),
                                                   Field(&JobPlan::models, ::testing::Ne(std::nullopt))),
                                  _));
  JobCallbacks callbacks;
  callbacks.on_progress = [&](const ProgressUpdate& u) { steps.push_back(u.step); };
  callbacks.on_done = [&](GenerationResult r) { done.set_value(r.data); };
  callbacks.on_failed = [&](const Error& e) { ADD_FAILURE() << e.what(); };
  loop.run([&] { t.instructor.submit(job_named("a"), callbacks); });
  auto data = done.get_future().get();
  EXPECT_EQ(data["images"], 1);
  EXPECT_EQ(data["written"], 1);
  EXPECT_EQ(t.resolved, 1);
  EXPECT_TRUE(data["seed"].is_number_unsigned());
  EXPECT_EQ(steps, (std::vector<int>{1, 2, 3}));
}

TEST(InferenceInstructor, GivenSeedIsPassedThroughAndTimeoutComesFromTheRequest) {
  Loop loop;
  auto pipeline = std::make_shared<StrictMock<MockPipelineManager>>();
  EXPECT_CALL(*pipeline, generate(_, _)).WillOnce([](const JobPlan& plan, const JobContext& context) {
    EXPECT_EQ(plan.request.seed, 1234u);
    while (!context.token().cancelled()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    context.check_cancelled();
    return GenerationResult{};
  });
  MainInterfaceConfig config;
  config.task_timeout = 3600;
  InferenceUnderTest t(loop, pipeline, config);
  EXPECT_CALL(*t.batch, split(_));
  std::promise<ErrorCode> failed;
  JobCallbacks callbacks;
  callbacks.on_done = [](GenerationResult) { ADD_FAILURE() << "should time out"; };
  callbacks.on_failed = [&](const Error& e) { failed.set_value(e.code()); };
  auto job = job_named("t");
  job.request.seed = 1234;
  job.request.timeout_seconds = 0.05;
  loop.run([&] { t.instructor.submit(job, callbacks); });
  EXPECT_EQ(failed.get_future().get(), ErrorCode::kTimeoutError);
  std::promise<void> idle;
  loop.run([&] { t.instructor.when_idle([&] { idle.set_value(); }); });
  idle.get_future().wait();
  EXPECT_EQ(t.written, 0);  // a failed job writes nothing
}

}  // namespace
}  // namespace workers
