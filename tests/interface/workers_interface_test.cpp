#include "interface/workers_interface.h"

#include <unistd.h>

#include <future>
#include <mutex>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "inference/managers/batch_manager.h"
#include "interface/composition.h"
#include "support/serve_pipes.h"
#include "mocks/mock_channel.h"
#include "mocks/mock_conditioning_manager.h"
#include "mocks/mock_device_manager.h"
#include "mocks/mock_memory_manager.h"
#include "mocks/mock_model_managers.h"
#include "mocks/mock_pipeline_manager.h"
#include "mocks/mock_scheduler_catalog.h"
#include "support/errors.h"

namespace workers {
namespace {

using ::testing::_;
using ::testing::AnyNumber;
using ::testing::InSequence;
using ::testing::Return;
using ::testing::StrictMock;

// The managers one engine is built around. StrictMock: a call a test did not state fails it.
// No model managers and no memory manager (loads are WORKER_UNAVAILABLE) unless a test runs a
// job; batches run whole.
struct Mocks {
  std::shared_ptr<StrictMock<MockDeviceManager>> device = std::make_shared<StrictMock<MockDeviceManager>>();
  std::shared_ptr<StrictMock<MockConditioningManager>> conditioning =
      std::make_shared<StrictMock<MockConditioningManager>>();
  std::shared_ptr<StrictMock<MockPipelineManager>> pipeline = std::make_shared<StrictMock<MockPipelineManager>>();
  std::shared_ptr<StrictMock<MockSchedulerCatalog>> schedulers =
      std::make_shared<StrictMock<MockSchedulerCatalog>>();
  bool with_pipeline = true;
  // A job's models are resolved (model instructor) before its pipeline runs: tests that run jobs
  // build the engine with the model managers and a memory manager (expect_resolved_jobs).
  bool with_models = false;
  MockModelManagers models;
  std::shared_ptr<StrictMock<MockMemoryManager>> memory = std::make_shared<StrictMock<MockMemoryManager>>();
  // serve()'s transport: the production one over the pipes unless a test sets another.
  ChannelFactory channel = production_channel();

  Mocks() {
    // Every engine that initializes applies the device policy (select, apply) and reports the
    // inventory it chose from; what the device does is not what these tests are about (one test
    // states the exact counts).
    EXPECT_CALL(*device, select(_)).Times(AnyNumber());
    EXPECT_CALL(*device, apply(_)).Times(AnyNumber());
    EXPECT_CALL(*device, inventory()).Times(AnyNumber());
    allow_unlimited_memory(*memory);  // memory planning has its own tests (memory_planner_test)
  }

  // A status response asks each manager that reports one, once per status request.
  void expect_status_requests(int count) {
    EXPECT_CALL(*schedulers, names()).Times(count);
    EXPECT_CALL(*conditioning, status()).Times(count);
  }

  // `count` jobs reach the compute thread: each resolves its base model "m" once (no refiner,
  // VAE, LoRA or ControlNet in these requests, so nothing else is opened).
  void expect_resolved_jobs(int count) {
    with_models = true;
    ModelHandle base;
    base.reference = "m";
    base.path = "/models/m";
    base.field = "model.base";
    EXPECT_CALL(*models.resolver, open("m", "model.base", "")).Times(count).WillRepeatedly(Return(base));
  }

  WorkersInterface::ManagersFactory factory() {
    return [this](const WorkersConfig&) {
      Managers m;
      m.device = device;
      if (with_models) {
        m.models = models.roles();
        m.memory = memory;
      }
      m.conditioning = conditioning;
      m.pipeline = with_pipeline ? pipeline : nullptr;
      m.batch = std::make_shared<ChunkingBatchManager>(0);
      m.schedulers = schedulers;
      m.stages = default_stage_registry();  // the real stages: responses as production encodes them
      m.channel = channel;
      return m;
    };
  }
};

WorkersConfig test_config() {
  WorkersConfig c;
  c.postprocessing.output_root = testing::TempDir() + "/interface_outputs";
  return c;
}

nlohmann::json inference(const std::string& id, int steps = 3) {
  return {{"request_id", id}, {"message_type", "inference_request"}, {"model", "m"}, {"prompt", "a cat"},
          {"steps", steps}, {"seed", 5}};
}

nlohmann::json status_request(const std::string& id) {
  return {{"request_id", id}, {"message_type", "status_request"}};
}

// The plan reached the pipeline with its models resolved (see Mocks::expect_resolved_jobs).
MATCHER(HasResolvedBase, "") { return arg.models && arg.models->base.path == "/models/m"; }

// A final response of `type` answering `id` (a progress event or another request's does not match).
MATCHER_P2(IsResponse, type, id, "") {
  return arg.is_object() && !arg.contains("event") && arg.contains("message_type") &&
         arg["message_type"] == type && arg.contains("request_id") && arg["request_id"] == id;
}

TEST(WorkersInterface, StatusReportsEverySection) {
  Mocks mocks;
  mocks.expect_status_requests(1);
  WorkersInterface engine(test_config(), mocks.factory());
  engine.initialize();
  auto r = engine.process(status_request("s1"));
  EXPECT_EQ(r["success"], true);
  EXPECT_EQ(r["message_type"], "status_response");
  EXPECT_EQ(r["request_id"], "s1");
  for (const char* section : {"device", "models", "queue", "schedulers", "conditioning", "postprocessing"}) {
    EXPECT_TRUE(r["data"].contains(section)) << section;
  }
  EXPECT_EQ(r["data"]["device"]["cpu"]["model"], "Test CPU");
}

TEST(WorkersInterface, InitializeAppliesTheDevicePolicyOnce) {
  Mocks mocks;
  EXPECT_CALL(*mocks.device, select(_)).Times(1);
  EXPECT_CALL(*mocks.device, apply(_)).Times(1);
  WorkersInterface engine(test_config(), mocks.factory());
  engine.initialize();
  engine.initialize();
}

TEST(WorkersInterface, SubmitStreamsProgressThenOneFinalResponse) {
  Mocks mocks;
  mocks.expect_resolved_jobs(1);
  EXPECT_CALL(*mocks.conditioning, decide(_)).Times(1);
  EXPECT_CALL(*mocks.pipeline, generate(HasResolvedBase(), _)).Times(1);
  WorkersInterface engine(test_config(), mocks.factory());
  engine.initialize();
  std::mutex m;
  std::vector<nlohmann::json> events;
  std::promise<void> final_seen;
  engine.submit(inference("g1", 4), [&](const nlohmann::json& e) {
    std::lock_guard<std::mutex> lock(m);
    events.push_back(e);
    if (!e.contains("event")) final_seen.set_value();
  });
  final_seen.get_future().wait();
  std::lock_guard<std::mutex> lock(m);
  ASSERT_EQ(events.size(), 5u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(events[i]["event"], "progress");
    EXPECT_EQ(events[i]["step"], i + 1);
    EXPECT_EQ(events[i]["total"], 4);
    EXPECT_EQ(events[i]["request_id"], "g1");
  }
  EXPECT_EQ(events[4]["success"], true);
  EXPECT_EQ(events[4]["data"]["seed"], 5);
  EXPECT_EQ(events[4]["message_type"], "inference_response");
}

TEST(WorkersInterface, WithoutPipelineInferenceIsWorkerUnavailableAfterValidation) {
  Mocks mocks;
  mocks.with_pipeline = false;
  // The valid request and the one naming an unknown scheduler reach the conditioning decision
  // (made before the scheduler's); the bad width is refused while decoding.
  EXPECT_CALL(*mocks.conditioning, decide(_)).Times(2);
  EXPECT_CALL(*mocks.schedulers, resolve("Nope")).Times(1);
  WorkersInterface engine(test_config(), mocks.factory());
  engine.initialize();
  auto ok = engine.process(inference("g"));
  EXPECT_EQ(ok["error"]["code"], "WORKER_UNAVAILABLE");
  auto bad = engine.process({{"request_id", "g2"}, {"message_type", "inference_request"}, {"model", "m"},
                             {"width", 1001}});
  EXPECT_EQ(bad["error"]["code"], "INVALID_REQUEST");
  EXPECT_EQ(bad["error"]["field"], "width");
  auto sched = engine.process({{"request_id", "g3"}, {"message_type", "inference_request"}, {"model", "m"},
                               {"scheduler", "Nope"}});
  EXPECT_EQ(sched["error"]["field"], "scheduler");
}

TEST(WorkersInterface, CancelStopsARunningJob) {
  Mocks mocks;
  std::promise<void> started;
  mocks.expect_resolved_jobs(1);
  EXPECT_CALL(*mocks.conditioning, decide(_)).Times(1);
  EXPECT_CALL(*mocks.pipeline, generate(_, _)).WillOnce([&](const JobPlan&, const JobContext& context) {
    started.set_value();
    while (!context.token().cancelled()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    context.check_cancelled();
    return GenerationResult{};
  });
  WorkersInterface engine(test_config(), mocks.factory());
  engine.initialize();
  std::promise<nlohmann::json> final_response;
  engine.submit(inference("long"), [&](const nlohmann::json& e) {
    if (!e.contains("event")) final_response.set_value(e);
  });
  started.get_future().wait();
  auto cancel = engine.process({{"request_id", "c"}, {"message_type", "cancel_request"}, {"target_request_id", "long"}});
  EXPECT_EQ(cancel["success"], true);
  EXPECT_EQ(cancel["data"]["state"], "running");
  auto response = final_response.get_future().get();
  EXPECT_EQ(response["error"]["code"], "CANCELLED");
  auto unknown = engine.process({{"request_id", "c2"}, {"message_type", "cancel_request"}, {"target_request_id", "x"}});
  EXPECT_EQ(unknown["error"]["field"], "target_request_id");
}

TEST(WorkersInterface, ShutdownMessageRefusesNewWork) {
  Mocks mocks;
  mocks.expect_status_requests(1);
  // The refused request is turned away before any manager decides anything about it.
  EXPECT_CALL(*mocks.conditioning, decide(_)).Times(0);
  EXPECT_CALL(*mocks.pipeline, generate(_, _)).Times(0);
  WorkersInterface engine(test_config(), mocks.factory());
  engine.initialize();
  EXPECT_EQ(engine.process({{"request_id", "q"}, {"message_type", "shutdown"}})["data"]["shutting_down"], true);
  EXPECT_EQ(engine.process(inference("late"))["error"]["code"], "WORKER_UNAVAILABLE");
  EXPECT_EQ(engine.process(status_request("s"))["success"], true);
}

TEST(WorkersInterface, ModelRequestsWithoutManagerAreWorkerUnavailable) {
  Mocks mocks;
  WorkersInterface engine(test_config(), mocks.factory());
  engine.initialize();
  auto r = engine.process({{"request_id", "l"}, {"message_type", "model_load_request"}, {"model", "sdxl"}});
  EXPECT_EQ(r["error"]["code"], "WORKER_UNAVAILABLE");
  EXPECT_EQ(r["message_type"], "model_load_response");
}

TEST(WorkersInterface, SubmitBeforeInitializeThrows) {
  Mocks mocks;
  WorkersInterface engine(test_config(), mocks.factory());
  EXPECT_THROW(engine.submit(inference("x"), [](const nlohmann::json&) {}), Error);
}

TEST(WorkersInterface, ShutdownDrainsRunningJobs) {
  Mocks mocks;
  std::atomic<bool> finished{false};
  mocks.expect_resolved_jobs(1);
  EXPECT_CALL(*mocks.conditioning, decide(_)).Times(1);
  EXPECT_CALL(*mocks.pipeline, generate(_, _)).WillOnce([&](const JobPlan&, const JobContext&) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    finished = true;
    return GenerationResult{};
  });
  WorkersInterface engine(test_config(), mocks.factory());
  engine.initialize();
  std::atomic<int> finals{0};
  engine.submit(inference("d"), [&](const nlohmann::json& e) {
    if (!e.contains("event")) ++finals;
  });
  engine.shutdown();
  EXPECT_TRUE(finished);
  EXPECT_EQ(finals, 1);
}

TEST(WorkersInterface, ServeAnswersEveryLineOverPipes) {
  Mocks mocks;
  mocks.expect_status_requests(2);
  mocks.expect_resolved_jobs(1);
  // With model managers, each status reports the device they load to and what is resident.
  EXPECT_CALL(*mocks.models.resolver, device()).Times(2);
  EXPECT_CALL(*mocks.memory, resident()).Times(2);
  EXPECT_CALL(*mocks.memory, cache_budget()).Times(2);
  EXPECT_CALL(*mocks.conditioning, decide(_)).Times(1);
  EXPECT_CALL(*mocks.pipeline, generate(HasResolvedBase(), _)).Times(1);
  const std::string input =
      "{\"request_id\":\"a\",\"message_type\":\"status_request\"}\nnot json\n" + inference("g", 2).dump() +
      "\n{\"request_id\":\"b\",\"message_type\":\"status_request\"}\n";
  int code = -1;
  std::string written;
  {
    WorkersInterface engine(test_config(), mocks.factory());
    auto served = testing_support::serve_over_pipes(engine, input);
    code = served.code;
    written = std::move(served.written);
  }
  EXPECT_EQ(code, 0);
  std::vector<nlohmann::json> lines;
  std::size_t start = 0;
  for (std::size_t nl; (nl = written.find('\n', start)) != std::string::npos; start = nl + 1) {
    lines.push_back(nlohmann::json::parse(written.substr(start, nl - start)));
  }
  std::map<std::string, int> finals;
  int progress = 0, errors = 0;
  for (const auto& l : lines) {
    if (l.contains("event")) {
      ++progress;
    } else if (l["request_id"].is_null()) {
      ++errors;
    } else {
      finals[l["request_id"]]++;
    }
  }
  EXPECT_EQ(progress, 2);
  EXPECT_EQ(errors, 1);
  EXPECT_EQ(finals, (std::map<std::string, int>{{"a", 1}, {"b", 1}, {"g", 1}}));
}

// serve() talks only through the channel the managers' factory builds: it starts it, answers
// each line through send, waits for the flush at end of input, then closes it, in that order.
TEST(WorkersInterface, ServeAnswersThroughTheChannelTheFactoryBuilt) {
  Mocks mocks;
  mocks.expect_status_requests(1);
  auto channel = std::make_shared<StrictMock<MockChannel>>();
  int built = 0;
  mocks.channel = [&](boost::asio::io_context&, int input_fd, int output_fd, const CommunicationConfig&) {
    ++built;
    EXPECT_EQ(input_fd, 7);  // the descriptors serve() was given, passed through untouched
    EXPECT_EQ(output_fd, 8);
    return channel;
  };
  {
    InSequence in_order;
    // start runs on the loop thread, where the handlers run too: feed the input from there.
    EXPECT_CALL(*channel, start(_)).WillOnce([](Channel::Handlers handlers) {
      handlers.on_line(R"({"request_id":"m1","message_type":"status_request"})");
      handlers.on_eof();
    });
    EXPECT_CALL(*channel, send(IsResponse("status_response", "m1")));
    EXPECT_CALL(*channel, when_flushed(_));  // the default runs `done` at once: serve may return
    EXPECT_CALL(*channel, close());
  }
  int code = -1;
  {
    WorkersInterface engine(test_config(), mocks.factory());
    code = engine.serve(7, 8);
  }
  EXPECT_EQ(code, 0);
  EXPECT_EQ(built, 1);
}

TEST(WorkersInterface, ServeWithoutAChannelFactoryIsAConfigError) {
  Mocks mocks;
  mocks.channel = nullptr;
  WorkersInterface engine(test_config(), mocks.factory());
  auto caught = testing_support::catch_error([&] { engine.serve(0, 1); });
  EXPECT_EQ(caught.code, ErrorCode::kConfigError);
  EXPECT_NE(caught.message.find("channel"), std::string::npos) << caught.message;
}

}  // namespace
}  // namespace workers
