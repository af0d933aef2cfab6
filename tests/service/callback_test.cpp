// Tests for service/callback: the allow-list, the enhanced callback body built from engine
// responses, asset URLs, and delivery with retries against a local receiver.
#include "service/callback.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>

#include "service/callback_receiver.h"
#include "support/errors.h"
#include "utilities/error.h"

namespace workers {
namespace {

using testing_support::CallbackReceiver;
using testing_support::catch_error;

constexpr const char* kHostsField = "workers.instructors.communication.http.callback_hosts";

HttpUrl url_of(const std::string& host, const std::string& port) {
  HttpUrl url;
  url.host = host;
  url.port = port;
  return url;
}

// A port nothing listens on: bound, read, closed.
int closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  socklen_t length = sizeof address;
  EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  ::close(fd);
  return ntohs(address.sin_port);
}

// ---- allow-list ----

TEST(CallbackAllowList, NormalisesEntries) {
  CallbackAllowList list({" LocalHost:8080 ", "Hooks.Example.COM:443", "[::1]:9000", "[FE80::1]:80",
                          "localhost:8080", "  ", "127.0.0.1:0080"});
  EXPECT_EQ(list.entries(),
            (std::vector<std::string>{"localhost:8080", "hooks.example.com:443", "[::1]:9000",
                                      "[fe80::1]:80", "127.0.0.1:80"}));
}

TEST(CallbackAllowList, AllowsListedHostsCaseInsensitively) {
  CallbackAllowList list({"localhost:8080", "hooks.example.com:443", "[::1]:9000"});
  EXPECT_TRUE(list.allows(url_of("localhost", "8080")));
  EXPECT_TRUE(list.allows(url_of("LOCALHOST", "8080")));
  EXPECT_TRUE(list.allows(url_of("Hooks.Example.com", "443")));
  EXPECT_TRUE(list.allows(url_of("::1", "9000")));
  EXPECT_TRUE(list.allows(url_of("[::1]", "9000")));
  EXPECT_FALSE(list.allows(url_of("localhost", "8081")));
  EXPECT_FALSE(list.allows(url_of("127.0.0.1", "8080")));  // no DNS: a different entry
  EXPECT_FALSE(list.allows(url_of("evil.example", "80")));
  EXPECT_FALSE(list.allows(url_of("hooks.example.com.evil.example", "443")));
}

TEST(CallbackAllowList, CheckParsesAndRefuses) {
  CallbackAllowList list({"localhost:8080", "hooks.example.com:80"});
  const HttpUrl ok = list.check("http://LOCALHOST:8080/jobs/done?x=1");
  EXPECT_EQ(ok.port, "8080");
  EXPECT_EQ(ok.target, "/jobs/done?x=1");
  EXPECT_NO_THROW(list.check("http://hooks.example.com/cb"));  // the default port 80

  CallbackAllowList v6({"[::1]:9000"});
  EXPECT_EQ(v6.check("http://[::1]:9000/cb").target, "/cb");
  const auto v6_refused = catch_error([&] { v6.check("http://[::1]:9001/cb"); });
  EXPECT_NE(v6_refused.message.find("host [::1]:9001 is not"), std::string::npos)
      << v6_refused.message;

  const auto refused = catch_error([&] { list.check("http://evil.example/cb"); });
  EXPECT_EQ(refused.code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(refused.field, "callback_url");
  EXPECT_EQ(refused.message,
            "callback_url: host evil.example:80 is not in the callback allow-list "
            "(SDXL_WORKERS_CALLBACK_HOSTS)");

  const auto other_port = catch_error([&] { list.check("http://localhost:9999/cb"); });
  EXPECT_NE(other_port.message.find("localhost:9999"), std::string::npos) << other_port.message;

  const auto unparsable = catch_error([&] { list.check("ftp://localhost:8080/cb"); });
  EXPECT_EQ(unparsable.code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(unparsable.field, "callback_url");
}

TEST(CallbackAllowList, EmptyListRefusesEverything) {
  CallbackAllowList list({});
  EXPECT_TRUE(list.entries().empty());
  EXPECT_FALSE(list.allows(url_of("localhost", "80")));
  const auto refused = catch_error([&] { list.check("http://localhost/cb"); });
  EXPECT_EQ(refused.code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(refused.field, "callback_url");
  EXPECT_NE(refused.message.find("no callback hosts are configured"), std::string::npos)
      << refused.message;
  EXPECT_NE(refused.message.find("SDXL_WORKERS_CALLBACK_HOSTS"), std::string::npos)
      << refused.message;
}

TEST(CallbackAllowList, BadEntriesAreConfigErrors) {
  for (const std::string entry :
       {"localhost", "localhost:", "localhost:http", "localhost:0", "localhost:65536", ":8080",
        "::1:8080", "[::1]", "[::1]8080", "a b:80", "user@host:80"}) {
    const auto caught = catch_error([&] { CallbackAllowList list({"ok.example:80", entry}); });
    EXPECT_EQ(caught.code, ErrorCode::kConfigError) << entry;
    EXPECT_EQ(caught.field, kHostsField) << entry;
    EXPECT_EQ(caught.message, "callback_hosts: entry \"" + entry + "\" must be host:port") << entry;
  }
}

// ---- bodies ----

nlohmann::json successful_response() {
  return nlohmann::json::parse(R"({
    "success": true, "message_type": "inference_response", "request_id": "job-42",
    "execution_time": 48.31, "timestamp": "2026-11-24T16:20:48.433Z",
    "warnings": ["unknown field ignored: sampler_name"], "error": null,
    "data": {"generation_seconds": 48.2, "seed": 123456789, "assets": [
      {"bytes": 1523817, "format": "png", "width": 1216, "height": 832, "type": "image",
       "path": "/srv/sdxl/outputs/job 42-0.png",
       "thumbnail": {"format": "webp", "base64": "UklGRl0="},
       "metadata": {"batch_index": 0, "batch_size": 2, "steps": 40, "guidance_scale": 6.5,
                    "seed": 123456789, "pipeline": "text2img", "negative_prompt": "blurry, lowres",
                    "prompt": "a lighthouse", "model": "sdxl-base-1.0", "scheduler": "DPM++ 2M Karras",
                    "width": 1216, "height": 832, "format": "png"}},
      {"bytes": 1400000, "format": "png", "width": 1216, "height": 832, "type": "image",
       "path": "/srv/sdxl/outputs/job 42-1.png",
       "metadata": {"batch_index": 1, "batch_size": 2, "steps": 40, "guidance_scale": 6.5,
                    "seed": 123456789, "pipeline": "text2img", "negative_prompt": "",
                    "prompt": "a lighthouse", "model": "sdxl-base-1.0"}}]}})");
}

CallbackContext context() {
  CallbackContext c;
  c.job_id = "job-42";
  c.worker_id = "worker-a";
  c.job_type = "text2img";
  c.processing_time = 50.5;
  c.attempts = 2;
  c.asset_base_url = "https://cdn.example/assets/";
  return c;
}

TEST(CallbackBody, CompletedFromASuccessfulResponse) {
  const nlohmann::json body = completion_callback(context(), successful_response());
  EXPECT_EQ(body["job_id"], "job-42");
  EXPECT_EQ(body["worker_id"], "worker-a");
  EXPECT_EQ(body["status"], "completed");
  ASSERT_TRUE(body["timestamp"].is_string());
  EXPECT_EQ(body["timestamp"].get<std::string>().back(), 'Z');
  EXPECT_TRUE(body["error"].is_null());

  ASSERT_EQ(body["assets"].size(), 2u);
  const nlohmann::json& first = body["assets"][0];
  EXPECT_EQ(first["type"], "image");
  EXPECT_EQ(first["url"], "https://cdn.example/assets/job%2042-0.png");
  EXPECT_EQ(first["thumbnail_url"], "data:image/webp;base64,UklGRl0=");
  const nlohmann::json& m0 = first["metadata"];
  EXPECT_EQ(m0["width"], 1216);
  EXPECT_EQ(m0["height"], 832);
  EXPECT_EQ(m0["format"], "png");
  EXPECT_EQ(m0["batch_size"], 2);
  EXPECT_EQ(m0["steps"], 40);
  EXPECT_EQ(m0["guidance_scale"], 6.5);
  EXPECT_EQ(m0["seed"], 123456789);
  EXPECT_EQ(m0["file_size_bytes"], 1523817);
  EXPECT_EQ(m0["asset_index"], 0);
  EXPECT_EQ(m0["denoise_strength"], 1.0);
  EXPECT_EQ(m0["pipeline"], "text2img");
  EXPECT_EQ(m0["negative_prompt_used"], true);
  EXPECT_EQ(m0["path"], "/srv/sdxl/outputs/job 42-0.png");
  // Every key of the engine's metadata is kept.
  EXPECT_EQ(m0["prompt"], "a lighthouse");
  EXPECT_EQ(m0["model"], "sdxl-base-1.0");
  EXPECT_EQ(m0["scheduler"], "DPM++ 2M Karras");
  EXPECT_EQ(m0["negative_prompt"], "blurry, lowres");
  EXPECT_EQ(m0["batch_index"], 0);

  const nlohmann::json& second = body["assets"][1];
  EXPECT_EQ(second["url"], "https://cdn.example/assets/job%2042-1.png");
  EXPECT_TRUE(second["thumbnail_url"].is_null());
  const nlohmann::json& m1 = second["metadata"];
  EXPECT_EQ(m1["asset_index"], 1);
  EXPECT_EQ(m1["file_size_bytes"], 1400000);
  EXPECT_EQ(m1["negative_prompt_used"], false);
  EXPECT_EQ(m1["width"], 1216);  // from the asset when the metadata lacks it
  EXPECT_EQ(m1["format"], "png");

  const nlohmann::json& meta = body["metadata"];
  EXPECT_EQ(meta["processing_time"], 50.5);
  EXPECT_EQ(meta["batch_size"], 2);
  EXPECT_EQ(meta["job_type"], "text2img");
  EXPECT_EQ(meta["attempts"], 2);
  EXPECT_EQ(meta["generation_seconds"], 48.2);
  EXPECT_EQ(meta["seed"], 123456789);
  EXPECT_EQ(meta["warnings"], nlohmann::json::array({"unknown field ignored: sampler_name"}));
  EXPECT_EQ(meta["execution_time"], 48.31);
}

TEST(CallbackBody, FileUrlsWithoutABase) {
  CallbackContext c = context();
  c.asset_base_url.clear();
  c.job_type.clear();
  const nlohmann::json body = completion_callback(c, successful_response());
  EXPECT_EQ(body["assets"][0]["url"], "file:///srv/sdxl/outputs/job%2042-0.png");
  EXPECT_TRUE(body["metadata"]["job_type"].is_null());
}

TEST(CallbackBody, Img2imgStrengthAndMissingIndex) {
  nlohmann::json response = successful_response();
  auto& assets = response["data"]["assets"];
  assets.erase(1);
  auto& metadata = assets[0]["metadata"];
  metadata["pipeline"] = "img2img";
  metadata["strength"] = 0.6;
  metadata.erase("batch_index");
  const nlohmann::json body = completion_callback(context(), response);
  ASSERT_EQ(body["assets"].size(), 1u);
  EXPECT_EQ(body["assets"][0]["metadata"]["denoise_strength"], 0.6);
  EXPECT_EQ(body["assets"][0]["metadata"]["asset_index"], 0);
  EXPECT_EQ(body["assets"][0]["metadata"]["strength"], 0.6);
  EXPECT_EQ(body["metadata"]["batch_size"], 1);
}

TEST(CallbackBody, FailedFromAFailedResponse) {
  const nlohmann::json response = nlohmann::json::parse(R"({
    "success": false, "data": null, "message_type": "inference_response", "request_id": "job-43",
    "error": {"code": "INVALID_REQUEST", "field": "steps", "message": "steps: must be between 1 and 1000, got 0"},
    "execution_time": 0.000152, "warnings": []})");
  const nlohmann::json body = completion_callback(context(), response);
  EXPECT_EQ(body["status"], "failed");
  EXPECT_EQ(body["assets"], nlohmann::json::array());
  EXPECT_EQ(body["error"], (nlohmann::json{{"code", "INVALID_REQUEST"},
                                           {"message", "steps: must be between 1 and 1000, got 0"},
                                           {"field", "steps"}}));
  EXPECT_EQ(body["metadata"]["batch_size"], 0);
  EXPECT_EQ(body["metadata"]["attempts"], 2);
  EXPECT_TRUE(body["metadata"]["generation_seconds"].is_null());
  EXPECT_EQ(body["metadata"]["execution_time"], 0.000152);

  const nlohmann::json bare = completion_callback(context(), nlohmann::json{{"success", false}});
  EXPECT_EQ(bare["status"], "failed");
  EXPECT_EQ(bare["error"]["code"], "INTERNAL_ERROR");
  EXPECT_TRUE(bare["error"]["field"].is_null());
}

TEST(CallbackBody, Processing) {
  const nlohmann::json body = processing_callback(context());
  EXPECT_EQ(body["job_id"], "job-42");
  EXPECT_EQ(body["worker_id"], "worker-a");
  EXPECT_EQ(body["status"], "processing");
  EXPECT_TRUE(body["timestamp"].is_string());
  EXPECT_EQ(body["assets"], nlohmann::json::array());
  EXPECT_EQ(body["metadata"]["job_type"], "text2img");
  EXPECT_EQ(body["metadata"]["attempts"], 2);
  EXPECT_TRUE(body["error"].is_null());
}

TEST(CallbackAssetUrl, BaseAndFileForms) {
  EXPECT_EQ(asset_url("/out/a.png", "http://cdn/x"), "http://cdn/x/a.png");
  EXPECT_EQ(asset_url("/out/a.png", "http://cdn/x///"), "http://cdn/x/a.png");
  EXPECT_EQ(asset_url("/out/dir/été #1.png", "http://cdn"), "http://cdn/%C3%A9t%C3%A9%20%231.png");
  EXPECT_EQ(asset_url("/out/a b/c%.png", ""), "file:///out/a%20b/c%25.png");
  const std::string relative = asset_url("rel/x.png", "");
  EXPECT_EQ(
      relative,
      "file://" + (std::filesystem::current_path() / "rel/x.png").lexically_normal().string());
}

// ---- delivery ----

TEST(CallbackDelivery, DeliveredFirstTime) {
  CallbackReceiver receiver;
  const nlohmann::json body = completion_callback(context(), successful_response());
  const CallbackOutcome outcome = deliver_callback(receiver.url("/hook"), body, {3, 0.05, 5});
  EXPECT_TRUE(outcome.delivered);
  EXPECT_EQ(outcome.attempts, 1);
  EXPECT_EQ(outcome.status, 200);
  EXPECT_EQ(outcome.error, "");
  EXPECT_EQ(outcome.url, receiver.url("/hook"));
  const auto received = receiver.received();
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0]["path"], "/hook");
  EXPECT_EQ(received[0]["body"], body);
  EXPECT_EQ(outcome.to_json(), (nlohmann::json{{"delivered", true},
                                               {"attempts", 1},
                                               {"status", 200},
                                               {"error", ""},
                                               {"url", receiver.url("/hook")}}));
}

TEST(CallbackDelivery, RetriesServerErrorsWithBackoff) {
  CallbackReceiver receiver(2);
  const auto start = std::chrono::steady_clock::now();
  const CallbackOutcome outcome = deliver_callback(receiver.url(), {{"n", 1}}, {3, 0.05, 5});
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_TRUE(outcome.delivered) << outcome.error;
  EXPECT_EQ(outcome.attempts, 3);
  EXPECT_EQ(outcome.status, 200);
  EXPECT_GE(elapsed, 0.05 + 0.1);
  const auto received = receiver.received();
  ASSERT_EQ(received.size(), 3u);
  EXPECT_EQ(received[0]["status"], 500);
  EXPECT_EQ(received[2]["status"], 200);
  for (const auto& r : received) EXPECT_EQ(r["body"], (nlohmann::json{{"n", 1}}));
}

TEST(CallbackDelivery, GivesUpAfterTheLastAttempt) {
  CallbackReceiver receiver(5);
  const CallbackOutcome outcome = deliver_callback(receiver.url(), {{"n", 1}}, {3, 0.01, 5});
  EXPECT_FALSE(outcome.delivered);
  EXPECT_EQ(outcome.attempts, 3);
  EXPECT_EQ(outcome.status, 500);
  EXPECT_EQ(outcome.error, "HTTP 500");
  EXPECT_EQ(receiver.count(), 3u);
}

TEST(CallbackDelivery, ClientErrorsAreNotRetried) {
  CallbackReceiver receiver;
  const CallbackOutcome outcome =
      deliver_callback(receiver.url("/gone/job-1"), {{"n", 1}}, {3, 0.01, 5});
  EXPECT_FALSE(outcome.delivered);
  EXPECT_EQ(outcome.attempts, 1);
  EXPECT_EQ(outcome.status, 404);
  EXPECT_EQ(outcome.error, "HTTP 404");
  EXPECT_EQ(receiver.count(), 1u);
}

TEST(CallbackDelivery, NetworkErrorsAreRetried) {
  const std::string url = "http://127.0.0.1:" + std::to_string(closed_port()) + "/cb";
  const CallbackOutcome outcome = deliver_callback(url, {{"n", 1}}, {2, 0.01, 2});
  EXPECT_FALSE(outcome.delivered);
  EXPECT_EQ(outcome.attempts, 2);
  EXPECT_EQ(outcome.status, 0);
  EXPECT_FALSE(outcome.error.empty());
  EXPECT_EQ(outcome.to_json()["delivered"], false);
}

TEST(CallbackDelivery, ABadUrlIsNotRetriedAndDoesNotThrow) {
  CallbackOutcome outcome;
  EXPECT_NO_THROW(outcome = deliver_callback("ftp://127.0.0.1/cb", {{"n", 1}}, {3, 0.01, 2}));
  EXPECT_FALSE(outcome.delivered);
  EXPECT_EQ(outcome.attempts, 1);
  EXPECT_FALSE(outcome.error.empty());
}

}  // namespace
}  // namespace workers
