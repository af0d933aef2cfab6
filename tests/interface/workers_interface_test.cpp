#include "interface/workers_interface.h"

#include <unistd.h>

#include <future>
#include <mutex>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "interface/composition.h"
#include "mocks/mock_device_manager.h"
#include "mocks/mock_model_manager.h"
#include "mocks/mock_pipeline_manager.h"
#include "mocks/mock_scheduler_catalog.h"

namespace workers {
namespace {

using ::testing::_;
using ::testing::NiceMock;

struct Mocks {
  std::shared_ptr<NiceMock<MockDeviceManager>> device = std::make_shared<NiceMock<MockDeviceManager>>();
  std::shared_ptr<NiceMock<MockPipelineManager>> pipeline = std::make_shared<NiceMock<MockPipelineManager>>();
  std::shared_ptr<NiceMock<MockSchedulerCatalog>> schedulers = std::make_shared<NiceMock<MockSchedulerCatalog>>();
  bool with_pipeline = true;

  WorkersInterface::ManagersFactory factory() {
    return [this](const WorkersConfig&) {
      Managers m;
      m.device = device;
      m.pipeline = with_pipeline ? pipeline : nullptr;
      m.schedulers = schedulers;
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

TEST(WorkersInterface, StatusReportsEverySection) {
  Mocks mocks;
  WorkersInterface engine(test_config(), mocks.factory());
  engine.initialize();
  auto r = engine.process({{"request_id", "s1"}, {"message_type", "status_request"}});
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
  ON_CALL(*mocks.pipeline, generate(_, _)).WillByDefault([&](const GenerationRequest&, const JobContext& context) {
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
  WorkersInterface engine(test_config(), mocks.factory());
  engine.initialize();
  EXPECT_EQ(engine.process({{"request_id", "q"}, {"message_type", "shutdown"}})["data"]["shutting_down"], true);
  EXPECT_EQ(engine.process(inference("late"))["error"]["code"], "WORKER_UNAVAILABLE");
  EXPECT_EQ(engine.process({{"request_id", "s"}, {"message_type", "status_request"}})["success"], true);
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
  ON_CALL(*mocks.pipeline, generate(_, _)).WillByDefault([&](const GenerationRequest&, const JobContext&) {
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
  int in[2], out[2];
  ASSERT_EQ(::pipe(in), 0);
  ASSERT_EQ(::pipe(out), 0);
  const std::string input =
      "{\"request_id\":\"a\",\"message_type\":\"status_request\"}\nnot json\n" + inference("g", 2).dump() +
      "\n{\"request_id\":\"b\",\"message_type\":\"status_request\"}\n";
  ASSERT_EQ(::write(in[1], input.data(), input.size()), static_cast<ssize_t>(input.size()));
  ::close(in[1]);
  int code = -1;
  {
    WorkersInterface engine(test_config(), mocks.factory());
    code = engine.serve(in[0], out[1]);
  }
  ::close(in[0]);
  ::close(out[1]);
  std::string written;
  char buffer[4096];
  for (ssize_t n; (n = ::read(out[0], buffer, sizeof buffer)) > 0;) written.append(buffer, n);
  ::close(out[0]);
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

}  // namespace
}  // namespace workers
