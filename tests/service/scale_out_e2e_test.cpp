// Scale-out: one redis-server, three `sdxl-workers worker` processes on the tiny model, 300 jobs.
// One worker is killed with SIGKILL in the middle of a job and started again. Every job must
// complete exactly once: one file, one completed callback, nothing left pending or dead-lettered.
#include <filesystem>
#include <fstream>
#include <set>

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

constexpr int kJobs = 300;

TEST(ScaleOutE2E, ThreeWorkersThreeHundredJobsOneKilledMidJobEachJobOnce) {
  RedisServer redis;
  CallbackReceiver receiver;
  const std::string outputs = fresh_dir("scale_out");
  const std::string logs = fresh_dir("scale_out_logs");
  const std::string config = logs + "/config.json";
  // Short timeouts so a dead worker's job is claimed within seconds.
  std::ofstream(config) << json{{"workers",
                                 {{"instructors",
                                   {{"communication",
                                     {{"redis",
                                       {{"claim_idle_seconds", 2.0},
                                        {"heartbeat_seconds", 0.4},
                                        {"worker_ttl_seconds", 2.0},
                                        {"block_seconds", 0.2}}},
                                      {"http", {{"callback_backoff_seconds", 0.1}}}}}}}}}}
                               .dump();
  auto env = testing_support::tiny_service_env(outputs);
  env["SDXL_WORKERS_CALLBACK_HOSTS"] = receiver.host_port();
  env["SDXL_WORKERS_LOG_LEVEL"] = "warn";
  env["SDXL_WORKERS_THREADS"] = "1";

  RedisConfig redis_config;
  redis_config.claim_idle_seconds = 2.0;
  RedisClient client(parse_redis_url(redis.url()));
  JobStore store(client, redis_config);
  store.ensure_group();
  const auto started = Clock::now();
  for (int i = 0; i < kJobs; ++i) {
    const std::string id = "s-" + std::to_string(i);
    store.enqueue(id, {{"job_id", id}, {"model", "tiny-sdxl"}, {"prompt", "a lighthouse"}, {"width", 64},
                       {"height", 64}, {"steps", 2}, {"seed", i}, {"callback_url", receiver.url()}});
  }

  auto worker = [&](const std::string& id) {
    return std::make_unique<ServiceProcess>(
        std::vector<std::string>{"worker", "--redis", redis.url(), "--worker-id", id, "--config", config}, env,
        logs + "/" + id + ".log");
  };
  std::vector<std::unique_ptr<ServiceProcess>> workers;
  for (const char* id : {"w1", "w2", "w3"}) {
    workers.push_back(worker(id));
    ASSERT_TRUE(workers.back()->ready().is_object()) << workers.back()->log();
  }

  // Kill w1 while it generates a job: its registration names the job in hand and the job's hash
  // says w1 is processing it. Checked again after the kill; if the job finished in between (jobs
  // take ~0.1 s), w1 is restarted and the kill tried again.
  std::string killed_job;
  for (int attempt = 0; attempt < 10 && killed_job.empty(); ++attempt) {
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    while (Clock::now() < deadline) {
      std::string candidate;
      if (receiver.count() >= 30u * (attempt + 1)) {
        for (const auto& w : store.live_workers()) {
          if (w.value("worker_id", "") == "w1" && w["status"]["current_job"].is_string()) candidate = w["status"]["current_job"];
        }
      }
      if (!candidate.empty()) {
        auto job = store.get(candidate);
        if (job && (*job)["state"] == "processing" && (*job)["worker_id"] == "w1") {
          workers[0]->signal(SIGKILL);
          EXPECT_EQ(workers[0]->wait(10), 128 + SIGKILL);
          if ((*store.get(candidate))["state"] == "processing") killed_job = candidate;
          break;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    workers[0] = worker("w1");  // restarted under the same id
    ASSERT_TRUE(workers[0]->ready().is_object()) << workers[0]->log();
  }
  ASSERT_FALSE(killed_job.empty()) << "w1 was never caught in the middle of a job";

  // Every job's completed callback.
  std::map<std::string, int> completed;
  const auto finish_by = Clock::now() + std::chrono::seconds(600);
  while (Clock::now() < finish_by) {
    completed.clear();
    for (const auto& r : receiver.received()) {
      if (r["body"]["status"] == "completed") ++completed[r["body"]["job_id"].get<std::string>()];
    }
    if (completed.size() == kJobs) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  const double wall = std::chrono::duration<double>(Clock::now() - started).count();
  ASSERT_EQ(completed.size(), static_cast<std::size_t>(kJobs)) << workers[1]->log();
  for (const auto& [id, count] : completed) EXPECT_EQ(count, 1) << id << " was called back " << count << " times";
  for (const auto& r : receiver.received()) EXPECT_NE(r["body"]["status"], "failed") << r.dump();

  // One file per job, named after it; nothing else in the output root.
  std::set<std::string> files;
  for (const auto& entry : fs::directory_iterator(outputs)) {
    if (entry.is_regular_file()) files.insert(entry.path().filename().string());
  }
  EXPECT_EQ(files.size(), static_cast<std::size_t>(kJobs));
  for (int i = 0; i < kJobs; ++i) EXPECT_EQ(files.count("s-" + std::to_string(i) + ".png"), 1u) << i;

  // Redis: every job completed, the killed one on a later attempt; nothing pending or dead.
  for (int i = 0; i < kJobs; ++i) {
    auto job = store.get("s-" + std::to_string(i));
    ASSERT_TRUE(job.has_value());
    EXPECT_EQ((*job)["state"], "completed") << job->dump();
    EXPECT_EQ((*job)["callback"]["delivered"], true);
  }
  auto killed = store.get(killed_job);
  EXPECT_GE((*killed)["attempts"].get<int>(), 2) << killed->dump();
  const json queue = store.queue_status();
  EXPECT_EQ(queue["pending"], 0) << queue.dump();
  EXPECT_EQ(queue["dead_letters"], 0) << queue.dump();

  std::map<std::string, int> per_worker;
  for (int i = 0; i < kJobs; ++i) ++per_worker[(*store.get("s-" + std::to_string(i)))["worker_id"].get<std::string>()];
  std::printf("[scale-out] %d jobs completed exactly once by 3 workers (w1 killed mid-job on %s and restarted) in %.1f s "
              "(%.1f jobs/s); per worker: w1 %d, w2 %d, w3 %d\n",
              kJobs, killed_job.c_str(), wall, kJobs / wall, per_worker["w1"], per_worker["w2"], per_worker["w3"]);
  for (auto& w : workers) {
    w->signal(SIGTERM);
    EXPECT_EQ(w->wait(60), 0) << w->log();
  }
  EXPECT_TRUE(store.live_workers().empty());
}

}  // namespace
}  // namespace workers
