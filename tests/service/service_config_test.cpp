// The service sections of the config file and their environment overrides; a job body read into
// a ServiceJob (job_id, job_type presets, callback_url).
#include <gtest/gtest.h>

#include "service/callback.h"
#include "service/job_request.h"
#include "service/service_config.h"
#include "service/thrown_by.h"
#include "utilities/error.h"

namespace workers {
namespace {

using nlohmann::json;
using testing_support::thrown_by;

EnvLookup env_of(std::map<std::string, std::string> values) {
  return [values](const std::string& name) -> std::optional<std::string> {
    auto it = values.find(name);
    if (it == values.end()) return std::nullopt;
    return it->second;
  };
}

json communication(json sections) { return {{"workers", {{"instructors", {{"communication", sections}}}}}}; }

TEST(ServiceConfig, DefaultsAndJobTypes) {
  ServiceConfig c = parse_service_config(json::object(), env_of({}));
  EXPECT_TRUE(c.http.api_key.empty());
  EXPECT_TRUE(c.http.callback_hosts.empty());
  EXPECT_EQ(c.http.max_body_bytes, 16u << 20);
  EXPECT_EQ(c.http.callback_attempts, 3);
  EXPECT_TRUE(c.redis.url.empty());
  EXPECT_EQ(c.redis.prefix, "sdxl");
  ASSERT_EQ(c.job_types.count("sdxl_image_fast"), 1u);
  EXPECT_EQ(c.job_types["sdxl_image_fast"].defaults["steps"], 15);
  EXPECT_EQ(c.job_types["sdxl_image_high"].defaults["steps"], 25);
  EXPECT_EQ(c.job_types["sdxl_image_high"].batch_sizes, (std::vector<int>{1, 3, 6}));
  EXPECT_TRUE(c.warnings.empty());
}

TEST(ServiceConfig, FileSectionsAndEnvironment) {
  json doc = communication({{"http",
                             {{"api_key", "from-file"},
                              {"callback_hosts", {"a:1"}},
                              {"max_body_bytes", 4096},
                              {"read_timeout_seconds", 2.5},
                              {"typo", 1}}},
                            {"redis", {{"url", "redis://h:7/2"}, {"prefix", "q"}, {"claim_idle_seconds", 9}}},
                            {"job_types", {{"tiny", {{"defaults", {{"steps", 2}}}, {"batch_sizes", {1}}}}}}});
  ServiceConfig c = parse_service_config(doc, env_of({}));
  EXPECT_EQ(c.http.api_key, "from-file");
  EXPECT_EQ(c.http.callback_hosts, (std::vector<std::string>{"a:1"}));
  EXPECT_EQ(c.http.max_body_bytes, 4096u);
  EXPECT_DOUBLE_EQ(c.http.read_timeout_seconds, 2.5);
  EXPECT_EQ(c.redis.url, "redis://h:7/2");
  EXPECT_EQ(c.redis.prefix, "q");
  EXPECT_EQ(c.job_types["tiny"].defaults["steps"], 2);
  EXPECT_EQ(c.job_types.count("sdxl_image_fast"), 1u);  // the defaults stay
  ASSERT_EQ(c.warnings.size(), 1u);
  EXPECT_NE(c.warnings[0].find("workers.instructors.communication.http.typo"), std::string::npos);

  ServiceConfig e = parse_service_config(doc, env_of({{"SDXL_WORKERS_API_KEY", "from-env"},
                                                      {"SDXL_WORKERS_CALLBACK_HOSTS", " a:1 , b.example:8080,"},
                                                      {"SDXL_WORKERS_REDIS_URL", "unix:///tmp/r.sock"}}));
  EXPECT_EQ(e.http.api_key, "from-env");
  EXPECT_EQ(e.http.callback_hosts, (std::vector<std::string>{"a:1", "b.example:8080"}));
  EXPECT_EQ(e.redis.url, "unix:///tmp/r.sock");
  EXPECT_EQ(to_json(e)["http"]["api_key"], "***");  // never printed
}

TEST(ServiceConfig, ErrorsNameTheField) {
  auto field_of = [](json sections) {
    return thrown_by([&] { parse_service_config(communication(sections), env_of({})); }).field();
  };
  EXPECT_EQ(field_of({{"http", {{"max_body_bytes", 10}}}}), "workers.instructors.communication.http.max_body_bytes");
  EXPECT_EQ(field_of({{"http", "x"}}), "workers.instructors.communication.http");
  EXPECT_EQ(field_of({{"redis", {{"claim_idle_seconds", -1}}}}),
            "workers.instructors.communication.redis.claim_idle_seconds");
  EXPECT_EQ(field_of({{"redis", {{"heartbeat_seconds", 30}, {"claim_idle_seconds", 10}}}}),
            "workers.instructors.communication.redis.heartbeat_seconds");
  EXPECT_EQ(field_of({{"redis", {{"prefix", "a b"}}}}), "workers.instructors.communication.redis.prefix");
  EXPECT_EQ(field_of({{"job_types", {{"x", {{"batch_sizes", {0}}}}}}}),
            "workers.instructors.communication.job_types.x.batch_sizes");
  EXPECT_EQ(field_of({{"job_types", {{"x", 3}}}}), "workers.instructors.communication.job_types.x");
}

TEST(ServiceJob, IdsTypesAndCallbacks) {
  ServiceConfig config = parse_service_config(json::object(), env_of({}));
  CallbackAllowList allow({"127.0.0.1:9000"});
  json body = {{"prompt", "a cat"}, {"model", "tiny-sdxl"}, {"job_id", "j-1"}, {"job_type", "sdxl_image_fast"},
               {"callback_url", "http://127.0.0.1:9000/cb"}};
  ServiceJob job = prepare_job(body, config, allow);
  EXPECT_EQ(job.job_id, "j-1");
  EXPECT_EQ(job.job_type, "sdxl_image_fast");
  EXPECT_EQ(job.callback_url, "http://127.0.0.1:9000/cb");
  EXPECT_EQ(job.request["request_id"], "j-1");
  EXPECT_EQ(job.request["message_type"], "inference_request");
  EXPECT_EQ(job.request["steps"], 15);  // the preset fills what the body leaves out
  EXPECT_FALSE(job.request.contains("job_id"));
  EXPECT_FALSE(job.request.contains("callback_url"));
  body["steps"] = 4;
  EXPECT_EQ(prepare_job(body, config, allow).request["steps"], 4);  // ... and only that

  json plain = {{"prompt", "a cat"}, {"request_id", 42}};
  EXPECT_EQ(prepare_job(plain, config, allow).job_id, "42");
  const std::string generated = prepare_job({{"prompt", "x"}}, config, allow).job_id;
  EXPECT_EQ(generated.rfind("job-", 0), 0u);
  EXPECT_EQ(generated.size(), 20u);
  EXPECT_NE(generated, prepare_job({{"prompt", "x"}}, config, allow).job_id);

  auto refused = [&](json b) { return thrown_by([&] { prepare_job(b, config, allow); }); };
  EXPECT_EQ(refused({{"prompt", "x"}, {"job_id", "../etc"}}).field(), "job_id");
  EXPECT_EQ(refused({{"prompt", "x"}, {"job_id", ".hidden"}}).field(), "job_id");
  EXPECT_EQ(refused({{"prompt", "x"}, {"job_id", true}}).field(), "job_id");
  EXPECT_EQ(refused({{"prompt", "x"}, {"job_type", "nope"}}).field(), "job_type");
  EXPECT_NE(std::string(refused({{"prompt", "x"}, {"job_type", "nope"}}).what()).find("sdxl_image_fast"),
            std::string::npos);
  EXPECT_EQ(refused({{"prompt", "x"}, {"job_type", "sdxl_image_fast"}, {"batch_size", 2}}).field(), "batch_size");
  EXPECT_EQ(refused({{"prompt", "x"}, {"callback_url", "http://10.0.0.1:80/x"}}).field(), "callback_url");
  EXPECT_EQ(refused({{"prompt", "x"}, {"callback_url", "ftp://127.0.0.1:9000/x"}}).field(), "callback_url");
  EXPECT_EQ(refused(json::array()).field(), "body");
  EXPECT_NO_THROW(prepare_job({{"prompt", "x"}, {"job_type", "sdxl_image_high"}, {"batch_size", 6}}, config, allow));
}

}  // namespace
}  // namespace workers
