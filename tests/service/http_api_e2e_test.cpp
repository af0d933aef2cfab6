// `sdxl-workers http` and `sdxl-workers worker --port` as a client sees them: every endpoint, auth,
// hostile requests (malformed, oversized, slow-loris, unknown paths) while other requests are
// served, cancellation through DELETE, callbacks, and a front door feeding a worker through Redis.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

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
using testing_support::call;
using testing_support::CallbackReceiver;
using testing_support::expect_schema;
using testing_support::fresh_dir;
using testing_support::RedisServer;
using testing_support::ServiceProcess;
using testing_support::wait_final;
namespace fs = std::filesystem;

json tiny_job(const std::string& id, int steps = 2, int size = 64) {
  return {{"job_id", id}, {"model", "tiny-sdxl"}, {"prompt", "a lighthouse"}, {"width", size},
          {"height", size}, {"steps", steps},     {"seed", 7}};
}

// A raw TCP client for requests http_request cannot send (partial, garbage).
class RawClient {
 public:
  explicit RawClient(const std::string& url) {
    const auto colon = url.rfind(':');
    const int port = std::stoi(url.substr(colon + 1));
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) ADD_FAILURE() << "connect failed";
  }
  ~RawClient() { close(fd_); }
  void send(const std::string& text) { EXPECT_EQ(::send(fd_, text.data(), text.size(), MSG_NOSIGNAL), (ssize_t)text.size()); }
  // Everything until the server closes (or `seconds` pass).
  std::string read_all(double seconds) {
    std::string text;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      char buffer[4096];
      const ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
      if (n <= 0) return text;
      text.append(buffer, static_cast<std::size_t>(n));
    }
    return text + "<timeout>";
  }

 private:
  int fd_ = -1;
};

class HttpApiE2E : public ::testing::Test {
 protected:
  void start(std::map<std::string, std::string> extra = {}, std::vector<std::string> args = {}) {
    outputs_ = fresh_dir("http_outputs");
    auto env = testing_support::tiny_service_env(outputs_);
    for (auto& [k, v] : extra) env[k] = v;
    std::vector<std::string> all = {"http", "--port", "0"};
    all.insert(all.end(), args.begin(), args.end());
    server_ = std::make_unique<ServiceProcess>(all, env, outputs_ + ".log");
    ASSERT_TRUE(server_->ready().is_object()) << server_->log();
    url_ = server_->url();
  }
  void TearDown() override {
    if (server_) {
      server_->signal(SIGTERM);
      EXPECT_EQ(server_->wait(60), 0) << server_->log();
    }
  }
  std::string outputs_;
  std::string url_;
  std::unique_ptr<ServiceProcess> server_;
};

TEST_F(HttpApiE2E, GenerateWaitsOrAnswersAJobIdAndEveryEndpointAnswers) {
  start();
  EXPECT_EQ(server_->ready()["mode"], "http");
  // ?wait=true: the finished job.
  auto done = call("POST", url_ + "/generate?wait=true", tiny_job("w-1"));
  ASSERT_EQ(done.status, 200) << done.body.dump();
  EXPECT_EQ(done.body["state"], "completed");
  ASSERT_EQ(done.body["result"]["assets"].size(), 1u);
  const std::string path = done.body["result"]["assets"][0]["path"];
  EXPECT_TRUE(fs::exists(path));
  EXPECT_EQ(fs::path(path).filename(), "w-1.png");

  // Without: 202 and the job id at once; then /jobs/{id} until it is done.
  auto accepted = call("POST", url_ + "/generate", tiny_job("a-1"));
  ASSERT_EQ(accepted.status, 202) << accepted.body.dump();
  EXPECT_EQ(accepted.body["job_id"], "a-1");
  EXPECT_EQ(accepted.body["status_url"], "/jobs/a-1");
  json view = wait_final(url_, "a-1");
  ASSERT_TRUE(view.is_object());
  EXPECT_EQ(view["state"], "completed");
  EXPECT_EQ(view["progress"]["stage"], "decoding");

  // A generated id; the same id twice is refused while known.
  auto generated = call("POST", url_ + "/generate", {{"model", "tiny-sdxl"}, {"prompt", "x"}, {"width", 64}, {"height", 64}, {"steps", 1}});
  ASSERT_EQ(generated.status, 202);
  EXPECT_EQ(generated.body["job_id"].get<std::string>().rfind("job-", 0), 0u);
  auto again = call("POST", url_ + "/generate", tiny_job("a-1"));
  EXPECT_EQ(again.status, 409);
  EXPECT_EQ(again.body["error"]["field"], "job_id");

  // A legacy (flat seed) body runs the same way.
  auto legacy = call("POST", url_ + "/generate?wait=true",
                     {{"job_id", "legacy-1"}, {"model_id", "tiny-sdxl"}, {"prompt", "x"}, {"width", 64}, {"height", 64},
                      {"num_inference_steps", 1}});
  EXPECT_EQ(legacy.body["state"], "completed") << legacy.body.dump();

  // Fields the protocol refuses: 400 at once, with its code, field and warnings; nothing queued.
  auto invalid = call("POST", url_ + "/generate?wait=true",
                      {{"job_id", "bad-1"}, {"model", "tiny-sdxl"}, {"prompt", "x"}, {"steps", 0}, {"sampler_name", "x"}});
  EXPECT_EQ(invalid.status, 400);
  EXPECT_EQ(invalid.body["error"]["code"], "INVALID_REQUEST");
  EXPECT_EQ(invalid.body["error"]["field"], "steps");
  EXPECT_EQ(invalid.body["request_id"], "bad-1");
  EXPECT_EQ(invalid.body["warnings"][0], "unknown field ignored: sampler_name");
  EXPECT_EQ(call("GET", url_ + "/jobs/bad-1").status, 404);
  // What only the running job can find (a model no root holds) is the job's error.
  auto failed = call("POST", url_ + "/generate?wait=true",
                     {{"job_id", "bad-2"}, {"model", "no-such-model"}, {"prompt", "x"}, {"width", 64}, {"height", 64}});
  EXPECT_EQ(failed.status, 200);
  EXPECT_EQ(failed.body["state"], "failed");
  EXPECT_EQ(failed.body["error"]["field"], "model.base") << failed.body.dump();

  auto missing = call("GET", url_ + "/jobs/nope");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.body["error"]["code"], "INVALID_REQUEST");

  auto health = call("GET", url_ + "/health");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body["status"], "ok");
  EXPECT_EQ(health.body["ready"], true);
  EXPECT_EQ(health.body["device"]["device"], "cpu");
  EXPECT_TRUE(health.body["queue"].is_object());

  auto info = call("GET", url_ + "/worker/info");
  EXPECT_EQ(info.status, 200);
  EXPECT_EQ(info.body["worker_type"], "sdxl");
  EXPECT_TRUE(info.body["job_types"].contains("sdxl_image_fast"));
  EXPECT_FALSE(info.body["schedulers"]["names"].empty());
  EXPECT_FALSE(info.body["loaded_models"].empty());  // the jobs above loaded tiny-sdxl
  EXPECT_EQ(info.body["url"], url_);

  auto status = call("GET", url_ + "/status");
  EXPECT_EQ(status.status, 200);
  EXPECT_TRUE(status.body.contains("version"));
  EXPECT_EQ(status.body["service"]["mode"], "http");

  auto workers = call("GET", url_ + "/workers");
  EXPECT_EQ(workers.status, 404);  // no registry without Redis
  auto unknown = call("GET", url_ + "/nothing/here");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(unknown.body["error"]["field"], "path");
  auto method = call("PUT", url_ + "/generate", json::object());
  EXPECT_EQ(method.status, 405);
  EXPECT_EQ(method.headers["allow"], "POST");

  expect_schema("http_job", {done.body, view, legacy.body, failed.body});
  expect_schema("http_accepted", {accepted.body, generated.body});
  expect_schema("http_health", {health.body});
  expect_schema("response", {again.body, missing.body, unknown.body, method.body, invalid.body});
}

TEST_F(HttpApiE2E, EventsStreamProgressThenTheResult) {
  start();
  ASSERT_EQ(call("POST", url_ + "/generate", tiny_job("ev-1", 30)).status, 202);
  HttpResult stream = http_request("GET", url_ + "/jobs/ev-1/events", "", 60);
  ASSERT_EQ(stream.status, 200);
  EXPECT_EQ(stream.headers["content-type"], "text/event-stream");
  EXPECT_NE(stream.body.find("event: state\ndata: "), std::string::npos);
  EXPECT_NE(stream.body.find("event: progress\ndata: "), std::string::npos) << stream.body;
  const auto last = stream.body.rfind("event: completed\ndata: ");
  ASSERT_NE(last, std::string::npos) << stream.body;
  const json result = json::parse(stream.body.substr(last + 23, stream.body.find('\n', last + 23) - last - 23));
  EXPECT_EQ(result["state"], "completed");
  // A finished job's stream: its state and the result, then the end.
  HttpResult again = http_request("GET", url_ + "/jobs/ev-1/events", "", 10);
  EXPECT_NE(again.body.find("event: completed"), std::string::npos);
}

TEST_F(HttpApiE2E, HostileRequestsGetClearErrorsWhileOthersAreServed) {
  const std::string config = fresh_dir("http_config") + "/config.json";
  std::ofstream(config) << json{{"workers",
                                 {{"instructors",
                                   {{"communication",
                                     {{"http", {{"max_body_bytes", 4096}, {"read_timeout_seconds", 1.0}}}}}}}}}}
                               .dump();
  start({}, {"--config", config});
  // Malformed JSON.
  HttpResult malformed = http_request("POST", url_ + "/generate", "{\"prompt\": ", 10);
  EXPECT_EQ(malformed.status, 400);
  EXPECT_EQ(json::parse(malformed.body)["error"]["field"], "body");
  HttpResult not_object = http_request("POST", url_ + "/generate", "[1,2]", 10);
  EXPECT_EQ(not_object.status, 400);
  // Oversized body.
  HttpResult big = http_request("POST", url_ + "/generate", std::string(10000, ' '), 10);
  EXPECT_EQ(big.status, 413);
  EXPECT_NE(json::parse(big.body)["error"]["message"].get<std::string>().find("4096"), std::string::npos);
  // Garbage instead of HTTP.
  {
    RawClient garbage(url_);
    garbage.send("NOT HTTP AT ALL\r\n\r\n");
    EXPECT_NE(garbage.read_all(5).find(" 400 "), std::string::npos);
  }
  // Slow loris: half a request, then silence; cut at the read timeout while others are served.
  RawClient slow(url_);
  slow.send("POST /generate HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"pro");
  const auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(call("GET", url_ + "/health").status, 200);
  const std::string answer = slow.read_all(10);
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  EXPECT_NE(answer.find(" 408 "), std::string::npos) << answer;
  EXPECT_LT(waited, 5.0);
  EXPECT_EQ(call("POST", url_ + "/generate?wait=true", tiny_job("after-1", 1)).body["state"], "completed");
}

TEST_F(HttpApiE2E, ApiKeyIsRequiredWhenConfigured) {
  start({{"SDXL_WORKERS_API_KEY", "s3cret"}});
  auto anonymous = call("POST", url_ + "/generate", tiny_job("k-1"));
  EXPECT_EQ(anonymous.status, 401);
  EXPECT_EQ(anonymous.body["error"]["field"], "authorization");
  EXPECT_EQ(anonymous.headers["www-authenticate"], "Bearer");
  EXPECT_EQ(call("POST", url_ + "/generate", tiny_job("k-1"), {{"Authorization", "Bearer wrong"}}).status, 401);
  EXPECT_EQ(call("GET", url_ + "/status").status, 401);
  EXPECT_EQ(call("GET", url_ + "/jobs/k-1").status, 401);
  EXPECT_EQ(call("GET", url_ + "/health").status, 200);  // probes need no key
  const std::vector<std::pair<std::string, std::string>> key = {{"Authorization", "Bearer s3cret"}};
  EXPECT_EQ(call("POST", url_ + "/generate", tiny_job("k-1"), key).status, 202);
  EXPECT_EQ(wait_final(url_, "k-1", 60, key)["state"], "completed");
}

// The README's stdlib Python client (docs/examples/sdxl_client.py) against a real server.
TEST_F(HttpApiE2E, ReadmePythonClientFollowsAJobToItsFile) {
  start({{"SDXL_WORKERS_API_KEY", "k"}});
  const std::string out = outputs_ + "/client.txt";
  const std::string command = "SDXL_WORKERS_API_KEY=k " + std::string(SDXL_SCHEMA_PYTHON) + " " +
                              SDXL_PYTHON_CLIENT + " " + url_ + " 'a red fox' tiny-sdxl > " + out + " 2>&1";
  EXPECT_EQ(std::system(command.c_str()), 0);
  std::ifstream in(out);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_NE(text.str().find("denoising 15/15"), std::string::npos) << text.str();  // sdxl_image_fast: 15 steps
  EXPECT_NE(text.str().find("completed " + outputs_ + "/job-"), std::string::npos) << text.str();
}

TEST(HttpApiStartup, AnotherAddressWithoutAKeyIsRefused) {
  const std::string outputs = fresh_dir("http_refused");
  ServiceProcess refused({"http", "--port", "0", "--host", "0.0.0.0"}, testing_support::tiny_service_env(outputs),
                         outputs + ".log");
  EXPECT_EQ(refused.wait(30), 2);
  EXPECT_EQ(refused.ready()["error"]["field"], "host") << refused.ready().dump();
}

TEST_F(HttpApiE2E, DeleteStopsARunningJobWithinOneStep) {
  start();
  ASSERT_EQ(call("POST", url_ + "/generate", tiny_job("long-1", 400, 128)).status, 202);
  int step_before = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (step_before < 3 && std::chrono::steady_clock::now() < deadline) {
    auto view = call("GET", url_ + "/jobs/long-1").body;
    if (view["progress"].is_object() && view["progress"]["stage"] == "denoising") step_before = view["progress"]["step"];
  }
  ASSERT_GE(step_before, 3);
  auto cancel = call("DELETE", url_ + "/jobs/long-1");
  ASSERT_EQ(cancel.status, 202) << cancel.body.dump();
  const int step_at_cancel = call("GET", url_ + "/jobs/long-1").body["progress"].value("step", 0);
  json view = wait_final(url_, "long-1", 30);
  ASSERT_TRUE(view.is_object());
  EXPECT_EQ(view["state"], "cancelled");
  EXPECT_EQ(view["error"]["code"], "CANCELLED");
  EXPECT_LE(view["progress"]["step"].get<int>(), step_at_cancel + 1) << view.dump();
  EXPECT_LT(view["progress"]["step"].get<int>(), 400);
  EXPECT_EQ(call("DELETE", url_ + "/jobs/long-1").status, 409);  // already finished
  EXPECT_EQ(call("DELETE", url_ + "/jobs/nope").status, 404);
}

TEST_F(HttpApiE2E, CallbacksReportProcessingThenTheResultToAllowedHostsOnly) {
  CallbackReceiver receiver;
  start({{"SDXL_WORKERS_CALLBACK_HOSTS", receiver.host_port()}});
  json job = tiny_job("cb-1");
  job["callback_url"] = receiver.url("/hook");
  job["job_type"] = "sdxl_image_fast";
  job["steps"] = 2;
  ASSERT_EQ(call("POST", url_ + "/generate", job).status, 202);
  ASSERT_TRUE(receiver.wait_for_count(2, 60));
  auto got = receiver.received();
  EXPECT_EQ(got[0]["body"]["status"], "processing");
  const json& body = got[1]["body"];
  EXPECT_EQ(body["status"], "completed");
  EXPECT_EQ(body["job_id"], "cb-1");
  ASSERT_EQ(body["assets"].size(), 1u);
  EXPECT_EQ(body["assets"][0]["url"].get<std::string>().rfind("file://", 0), 0u);
  EXPECT_EQ(body["assets"][0]["metadata"]["steps"], 2);
  EXPECT_EQ(body["metadata"]["job_type"], "sdxl_image_fast");
  // The outcome is recorded once the receiver has answered: it may land just after the POST.
  json outcome = nullptr;
  for (int i = 0; i < 200 && !outcome.is_object(); ++i, std::this_thread::sleep_for(std::chrono::milliseconds(25))) {
    outcome = wait_final(url_, "cb-1")["callback"];
  }
  EXPECT_EQ(outcome["delivered"], true) << outcome.dump();

  job["job_id"] = "cb-2";
  job["callback_url"] = "http://192.0.2.1:80/steal";
  auto refused = call("POST", url_ + "/generate", job);
  EXPECT_EQ(refused.status, 400);
  EXPECT_EQ(refused.body["error"]["field"], "callback_url");
  std::vector<json> bodies;
  for (const auto& r : receiver.received()) bodies.push_back(r["body"]);
  expect_schema("callback", bodies);
}

// A front door (http --redis) enqueues; a worker (worker --redis --port) runs the job; both answer
// /jobs/{id} from the shared hash; the registry lists the worker until it drains on SIGTERM.
TEST(HttpApiRedis, FrontDoorAndWorkerShareJobsThroughRedis) {
  RedisServer redis;
  CallbackReceiver receiver;
  const std::string outputs = fresh_dir("front_outputs");
  auto env = testing_support::tiny_service_env(outputs);
  env["SDXL_WORKERS_CALLBACK_HOSTS"] = receiver.host_port();
  ServiceProcess front({"http", "--port", "0", "--redis", redis.url(), "--worker-id", "front"}, env, outputs + "/../front.log");
  ASSERT_TRUE(front.ready().is_object()) << front.log();
  EXPECT_EQ(front.ready()["mode"], "front_door");
  const std::string door = front.url();

  // Enqueued before any worker runs; one of them cancelled while queued.
  json job = tiny_job("r-1");
  job["callback_url"] = receiver.url();
  auto accepted = call("POST", door + "/generate", job);
  ASSERT_EQ(accepted.status, 202) << accepted.body.dump();
  EXPECT_EQ(call("GET", door + "/jobs/r-1").body["state"], "queued");
  ASSERT_EQ(call("POST", door + "/generate", tiny_job("r-2")).status, 202);
  EXPECT_EQ(call("DELETE", door + "/jobs/r-2").status, 202);
  EXPECT_EQ(call("POST", door + "/generate", tiny_job("r-1")).status, 409);  // known id
  json invalid = tiny_job("r-bad");
  invalid["width"] = 65;  // refused by the front door, never enqueued
  auto refused = call("POST", door + "/generate", invalid);
  EXPECT_EQ(refused.status, 400);
  EXPECT_EQ(refused.body["error"]["field"], "width");
  EXPECT_EQ(call("GET", door + "/jobs/r-bad").status, 404);

  ServiceProcess worker({"worker", "--redis", redis.url(), "--port", "0", "--worker-id", "w-a"}, env,
                        outputs + "/../worker.log");
  ASSERT_TRUE(worker.ready().is_object()) << worker.log();
  json done = wait_final(door, "r-1");
  ASSERT_TRUE(done.is_object()) << worker.log();
  EXPECT_EQ(done["state"], "completed");
  EXPECT_EQ(done["worker_id"], "w-a");
  EXPECT_EQ(call("GET", worker.url() + "/jobs/r-1").body["state"], "completed");  // any worker answers
  EXPECT_TRUE(fs::exists(outputs + "/r-1.png"));
  EXPECT_EQ(wait_final(door, "r-2")["state"], "cancelled");
  ASSERT_TRUE(receiver.wait_for_count(2, 30));  // processing + completed of r-1
  EXPECT_EQ(receiver.received().back()["body"]["status"], "completed");

  // The registry and /health agree.
  auto listed = call("GET", door + "/workers").body["workers"];
  ASSERT_EQ(listed.size(), 1u) << listed.dump();
  EXPECT_EQ(listed[0]["worker_id"], "w-a");
  EXPECT_EQ(listed[0]["url"], worker.url());
  auto health = call("GET", worker.url() + "/health").body;
  EXPECT_EQ(health["ready"], true);
  EXPECT_EQ(health["redis"]["registered"], true);
  EXPECT_EQ(health["worker"]["state"], "running");

  std::vector<json> bodies;
  for (const auto& r : receiver.received()) bodies.push_back(r["body"]);
  expect_schema("callback", bodies);
  expect_schema("http_job", {done, call("GET", door + "/jobs/r-2").body});
  expect_schema("http_health", {health});

  worker.signal(SIGTERM);
  EXPECT_EQ(worker.wait(60), 0) << worker.log();
  EXPECT_TRUE(call("GET", door + "/workers").body["workers"].empty());
  front.signal(SIGTERM);
  EXPECT_EQ(front.wait(60), 0) << front.log();
}

}  // namespace
}  // namespace workers
