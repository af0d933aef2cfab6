// Service mode overhead: jobs per second through Redis with 1, 2 and 3 `sdxl-workers worker`
// processes on the tiny model, and the latency the queue adds to one job against a direct
// WorkersInterface::process() in this process. On 2 cores the workers share the CPU, so scaling is
// expected to be flat: what matters is the per-job overhead (stream, status hash, locks, file move).
//   build/benchmarks/bench_service --benchmark_counters_tabular=true
#include <chrono>
#include <cstdio>
#include <thread>

#include <benchmark/benchmark.h>

#include "interface/workers_interface.h"
#include "service/job_store.h"
#include "service/redis_server.h"
#include "service/service_process.h"
#include "utilities/logging.h"

namespace {

using namespace workers;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

json tiny_request(const std::string& id, int seed) {
  return {{"job_id", id}, {"model", "tiny-sdxl"}, {"prompt", "a lighthouse"}, {"width", 64},
          {"height", 64}, {"steps", 2},            {"seed", seed}};
}

bool final_state(const std::optional<json>& job) {
  if (!job) return false;
  const std::string state = job->value("state", "");
  return state == "completed" || state == "failed" || state == "cancelled";
}

struct Cluster {
  testing_support::RedisServer redis;
  std::string outputs = testing_support::fresh_dir("bench_service");
  std::vector<std::unique_ptr<testing_support::ServiceProcess>> workers;
  std::unique_ptr<RedisClient> client;
  std::unique_ptr<JobStore> store;

  explicit Cluster(int count) {
    auto env = testing_support::tiny_service_env(outputs);
    env["SDXL_WORKERS_LOG_LEVEL"] = "warn";
    env["SDXL_WORKERS_THREADS"] = "1";
    for (int i = 0; i < count; ++i) {
      const std::string id = "bench-w" + std::to_string(i);
      workers.push_back(std::make_unique<testing_support::ServiceProcess>(
          std::vector<std::string>{"worker", "--redis", redis.url(), "--worker-id", id}, env,
          outputs + "/../" + id + ".log"));
    }
    client = std::make_unique<RedisClient>(parse_redis_url(redis.url()));
    store = std::make_unique<JobStore>(*client, RedisConfig{});
    store->ensure_group();
    // Warm-up: one job per worker loads the model everywhere.
    run_batch("warm", count);
  }
  ~Cluster() {
    for (auto& w : workers) w->signal(SIGTERM);
    for (auto& w : workers) w->wait(60);
  }
  // Enqueues n jobs at once and waits for all; returns the seconds taken.
  double run_batch(const std::string& prefix, int n) {
    const auto start = Clock::now();
    for (int i = 0; i < n; ++i) store->enqueue(prefix + "-" + std::to_string(i), tiny_request(prefix + "-" + std::to_string(i), i));
    for (int i = 0; i < n; ++i) {
      while (!final_state(store->get(prefix + "-" + std::to_string(i)))) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return std::chrono::duration<double>(Clock::now() - start).count();
  }
};

void BM_Service_RedisThroughput(benchmark::State& state) {
  const int workers = static_cast<int>(state.range(0));
  constexpr int kJobs = 60;
  Cluster cluster(workers);
  int round = 0;
  double seconds = 0;
  for (auto _ : state) seconds += cluster.run_batch("t" + std::to_string(round++), kJobs);
  state.counters["workers"] = workers;
  state.counters["jobs_per_s"] = kJobs * round / seconds;
  state.counters["ms_per_job"] = 1000.0 * seconds / (kJobs * round);
}
BENCHMARK(BM_Service_RedisThroughput)->Arg(1)->Arg(2)->Arg(3)->Iterations(2)->Unit(benchmark::kSecond)->UseRealTime();

// One job at a time: enqueue, wait until the status hash says completed.
void BM_Service_RedisLatency(benchmark::State& state) {
  Cluster cluster(1);
  int n = 0;
  for (auto _ : state) {
    const std::string id = "lat-" + std::to_string(n++);
    cluster.store->enqueue(id, tiny_request(id, n));
    while (!final_state(cluster.store->get(id))) std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}
BENCHMARK(BM_Service_RedisLatency)->Iterations(30)->Unit(benchmark::kMillisecond)->UseRealTime();

// The same job through WorkersInterface::process() in this process (no queue).
void BM_Service_DirectSubmit(benchmark::State& state) {
  configure_logging({"warn", ""});
  WorkersConfig config = load_config(std::nullopt, [](const std::string& name) -> std::optional<std::string> {
    if (name == "SDXL_WORKERS_MODEL_ROOTS") return std::string(SDXL_FIXTURES_DIR);
    if (name == "SDXL_WORKERS_OUTPUT_ROOT") return testing_support::fresh_dir("bench_direct");
    if (name == "SDXL_WORKERS_THREADS") return std::string("1");
    return std::nullopt;
  });
  WorkersInterface engine(config);
  engine.initialize();
  engine.process(tiny_request("warm", 0));
  int n = 0;
  for (auto _ : state) {
    json request = tiny_request("", n);
    request.erase("job_id");
    request["request_id"] = "direct-" + std::to_string(n++);
    request["message_type"] = "inference_request";
    auto response = engine.process(request);
    if (!response.value("success", false)) state.SkipWithError(response.dump().c_str());
  }
}
BENCHMARK(BM_Service_DirectSubmit)->Iterations(30)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
