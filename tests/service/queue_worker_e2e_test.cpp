// The worker's failure paths against a real redis-server: failures another attempt may cure are
// retried up to max_attempts and then dead-lettered; a callback that cannot be delivered keeps the
// job unacknowledged (only the callback is retried) until it is dead-lettered; a payload that is
// not JSON fails at once. Nothing is generated twice on the way.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "service/callback_receiver.h"
#include "service/job_store.h"
#include "service/redis_server.h"
#include "service/service_process.h"

namespace workers {
namespace {

using nlohmann::json;
using testing_support::CallbackReceiver;
using testing_support::fresh_dir;
using testing_support::RedisServer;
using testing_support::ServiceProcess;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

class QueueWorkerE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    outputs_ = fresh_dir("queue_worker");
    config_ = outputs_ + "/../" + fs::path(outputs_).filename().string() + ".json";
    std::ofstream(config_) << json{{"workers",
                                    {{"instructors",
                                      {{"communication",
                                        {{"redis",
                                          {{"claim_idle_seconds", 0.5},
                                           {"heartbeat_seconds", 0.1},
                                           {"worker_ttl_seconds", 2.0},
                                           {"block_seconds", 0.1},
                                           {"max_attempts", 2}}},
                                         {"http", {{"callback_backoff_seconds", 0.01}}}}}}}}}}
                                  .dump();
    client_ = std::make_unique<RedisClient>(parse_redis_url(redis_.url()));
    RedisConfig config;
    store_ = std::make_unique<JobStore>(*client_, config);
    store_->ensure_group();
  }
  std::unique_ptr<ServiceProcess> worker(std::map<std::string, std::string> extra = {}) {
    auto env = testing_support::tiny_service_env(outputs_);
    env["SDXL_WORKERS_CALLBACK_HOSTS"] = receiver_.host_port();
    for (auto& [k, v] : extra) env[k] = v;
    auto process = std::make_unique<ServiceProcess>(
        std::vector<std::string>{"worker", "--redis", redis_.url(), "--worker-id", "qw", "--config", config_}, env,
        outputs_ + ".log");
    EXPECT_TRUE(process->ready().is_object()) << process->log();
    return process;
  }
  json tiny(const std::string& id, const std::string& callback_path = "") {
    json job = {{"job_id", id}, {"model", "tiny-sdxl"}, {"prompt", "x"}, {"width", 64}, {"height", 64}, {"steps", 1}};
    if (!callback_path.empty()) job["callback_url"] = receiver_.url(callback_path);
    return job;
  }
  // Waits until `done` holds for the job's hash.
  json wait_for(const std::string& id, const std::function<bool(const json&)>& done, double seconds = 60) {
    const auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
    while (Clock::now() < deadline) {
      auto job = store_->get(id);
      if (job && done(*job)) return *job;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ADD_FAILURE() << "job " << id << " never reached the expected state: " << (store_->get(id) ? store_->get(id)->dump() : "none");
    return nullptr;
  }

  RedisServer redis_;
  CallbackReceiver receiver_{1000};  // every path fails 1000 times (500) ...
  std::string outputs_;
  std::string config_;
  std::unique_ptr<RedisClient> client_;
  std::unique_ptr<JobStore> store_;
};

TEST_F(QueueWorkerE2E, OutOfMemoryIsRetriedUpToMaxAttemptsThenDeadLettered) {
  // 256 MiB cannot hold the process overhead the planner counts: every attempt is OOM_ERROR.
  auto w = worker({{"SDXL_WORKERS_MAX_MEMORY", "256MB"}});
  store_->enqueue("oom-1", tiny("oom-1", "/gone/oom"));  // /gone answers 404: not retried
  // The callback's outcome is recorded just before the entry moves to the dead-letter stream.
  wait_for("oom-1", [this](const json&) { return store_->queue_status()["dead_letters"] == 1; });
  json job = *store_->get("oom-1");
  EXPECT_EQ(job["state"], "failed");
  EXPECT_EQ(job["attempts"], 2) << job.dump();
  EXPECT_EQ(job["last_error"]["code"], "OOM_ERROR");
  EXPECT_EQ(job["error"]["code"], "OOM_ERROR");
  EXPECT_EQ(job["callback"]["delivered"], false);
  EXPECT_EQ(job["callback"]["status"], 404);  // a 4xx is not retried
  EXPECT_EQ(job["callback"]["attempts"], 1);
  const json queue = store_->queue_status();
  EXPECT_EQ(queue["dead_letters"], 1);
  EXPECT_EQ(queue["pending"], 0);
  auto dead = client_->command({"XRANGE", store_->dead_stream(), "-", "+"});
  ASSERT_EQ(dead.elements.size(), 1u);
  std::string fields;
  for (const auto& f : dead.elements[0].elements[1].elements) fields += f.str() + " ";
  EXPECT_NE(fields.find("oom-1"), std::string::npos) << fields;
  EXPECT_NE(fields.find("failed on all 2 attempts; last: OOM_ERROR"), std::string::npos) << fields;
}

TEST_F(QueueWorkerE2E, UndeliveredCallbackIsRetriedAloneThenDeadLettered) {
  auto w = worker();
  store_->enqueue("cb-1", tiny("cb-1", "/down"));  // 500 every time
  json job = wait_for("cb-1", [this](const json&) { return store_->queue_status()["dead_letters"] == 1; });
  job = *store_->get("cb-1");
  EXPECT_EQ(job["state"], "completed");  // generated once ...
  EXPECT_EQ(job["callback"]["delivered"], false);
  EXPECT_EQ(job["callback"]["status"], 500);
  EXPECT_EQ(job["attempts"], 2);
  int completed_posts = 0, processing_posts = 0;
  for (const auto& r : receiver_.received()) {
    if (r["body"]["status"] == "completed") ++completed_posts;
    if (r["body"]["status"] == "processing") ++processing_posts;
  }
  EXPECT_EQ(processing_posts, 1);     // one start
  EXPECT_EQ(completed_posts, 2 * 3);  // two deliveries x callback_attempts, the second without generating
  std::size_t files = 0;
  for (const auto& entry : fs::directory_iterator(outputs_)) files += entry.is_regular_file() ? 1 : 0;
  EXPECT_EQ(files, 1u);
  auto dead = client_->command({"XRANGE", store_->dead_stream(), "-", "+"});
  ASSERT_EQ(dead.elements.size(), 1u);
  std::string fields;
  for (const auto& f : dead.elements[0].elements[1].elements) fields += f.str() + " ";
  EXPECT_NE(fields.find("callback not delivered"), std::string::npos) << fields;
}

TEST_F(QueueWorkerE2E, PayloadThatIsNotJsonFailsAtOnceAndTheWorkerGoesOn) {
  auto w = worker();
  client_->command({"XADD", store_->stream(), "*", "job_id", "raw-1", "payload", "{not json"});
  json job = wait_for("raw-1", [](const json& j) { return j.value("state", "") == "failed"; });
  EXPECT_EQ(job["error"]["code"], "INVALID_REQUEST");
  EXPECT_EQ(job["error"]["field"], "payload");
  store_->enqueue("ok-1", tiny("ok-1"));
  EXPECT_EQ(wait_for("ok-1", [](const json& j) { return j.value("state", "") == "completed"; })["attempts"], 1);
  EXPECT_EQ(store_->queue_status()["pending"], 0);
  EXPECT_EQ(store_->queue_status()["dead_letters"], 0);
}

}  // namespace
}  // namespace workers
