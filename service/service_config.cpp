#include "service/service_config.h"

#include <algorithm>
#include <sstream>

#include "service/redis_client.h"
#include "utilities/config_file.h"
#include "utilities/json_fields.h"

namespace workers {
namespace {

constexpr ErrorCode kCfg = ErrorCode::kConfigError;
const char* const kCommunication = "workers.instructors.communication";

double seconds(FieldReader& r, const std::string& key, double fallback, double lo, double hi) {
  auto v = r.number(key);
  if (!v) return fallback;
  if (!(*v >= lo && *v <= hi)) {
    std::ostringstream message;
    message << "must be between " << lo << " and " << hi << " seconds, got " << *v;
    r.fail(key, message.str());
  }
  return *v;
}

template <typename T>
T whole(FieldReader& r, const std::string& key, T fallback, long long lo, long long hi) {
  auto v = r.integer(key);
  if (!v) return fallback;
  if (*v < lo || *v > hi) {
    r.fail(key, "must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got " + std::to_string(*v));
  }
  return static_cast<T>(*v);
}

// "a:1, b:2" -> {"a:1", "b:2"}
std::vector<std::string> comma_list(const std::string& text) {
  std::vector<std::string> items;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    const auto first = item.find_first_not_of(" \t");
    if (first == std::string::npos) continue;
    items.push_back(item.substr(first, item.find_last_not_of(" \t") - first + 1));
  }
  return items;
}

JobTypePreset parse_job_type(FieldReader& r) {
  JobTypePreset preset;
  if (const auto* d = r.object("defaults")) preset.defaults = *d;
  if (const auto* b = r.raw("batch_sizes")) {
    if (!b->is_array()) r.fail("batch_sizes", "must be a list of batch sizes");
    for (const auto& n : *b) {
      if (!n.is_number_integer() || n.get<long long>() < 1 || n.get<long long>() > 64) {
        r.fail("batch_sizes", "must hold whole numbers between 1 and 64");
      }
      preset.batch_sizes.push_back(n.get<int>());
    }
  }
  return preset;
}

std::map<std::string, JobTypePreset> default_job_types() {
  std::map<std::string, JobTypePreset> types;
  types["sdxl_image_fast"] = {{{"steps", 15}}, {1, 3, 6}};
  types["sdxl_image_high"] = {{{"steps", 25}}, {1, 3, 6}};
  return types;
}

void collect_unknown(const FieldReader& r, std::vector<std::string>& warnings) {
  for (const auto& field : r.unread()) warnings.push_back("unknown config key ignored: " + field);
}

// The Redis URL with its password masked (status and `sdxl-workers config` print it).
std::string masked_url(const std::string& url) {
  if (url.empty()) return url;
  try {
    return parse_redis_url(url, "redis").text;
  } catch (const Error&) {
    return "(not a Redis URL)";
  }
}

}  // namespace

ServiceConfig parse_service_config(const nlohmann::json& document, const EnvLookup& env) {
  ServiceConfig c;
  c.job_types = default_job_types();
  static const nlohmann::json empty = nlohmann::json::object();
  const nlohmann::json* comm = &empty;
  const nlohmann::json::json_pointer pointer("/workers/instructors/communication");
  if (document.is_object() && document.contains(pointer) && document.at(pointer).is_object()) {
    comm = &document.at(pointer);
  }
  FieldReader section(*comm, kCommunication, kCfg);
  const nlohmann::json* http_json = section.object("http");
  const nlohmann::json* redis_json = section.object("redis");
  const nlohmann::json* types_json = section.object("job_types");

  FieldReader http(http_json ? *http_json : empty, std::string(kCommunication) + ".http", kCfg);
  if (auto k = http.string("api_key")) c.http.api_key = *k;
  if (auto hosts = http.string_list("callback_hosts")) c.http.callback_hosts = *hosts;
  c.http.max_body_bytes = whole<std::size_t>(http, "max_body_bytes", c.http.max_body_bytes, 1024, 1ll << 32);
  c.http.max_header_bytes = whole<std::size_t>(http, "max_header_bytes", c.http.max_header_bytes, 1024, 1 << 20);
  c.http.read_timeout_seconds = seconds(http, "read_timeout_seconds", c.http.read_timeout_seconds, 0.05, 3600);
  c.http.idle_timeout_seconds = seconds(http, "idle_timeout_seconds", c.http.idle_timeout_seconds, 0.05, 86400);
  c.http.max_connections = whole<std::size_t>(http, "max_connections", c.http.max_connections, 1, 100000);
  if (auto b = http.string("asset_base_url")) c.http.asset_base_url = *b;
  c.http.callback_timeout_seconds =
      seconds(http, "callback_timeout_seconds", c.http.callback_timeout_seconds, 0.05, 600);
  c.http.callback_attempts = whole<int>(http, "callback_attempts", c.http.callback_attempts, 1, 20);
  c.http.callback_backoff_seconds =
      seconds(http, "callback_backoff_seconds", c.http.callback_backoff_seconds, 0, 600);

  FieldReader redis(redis_json ? *redis_json : empty, std::string(kCommunication) + ".redis", kCfg);
  if (auto u = redis.string("url")) c.redis.url = *u;
  if (auto p = redis.string("prefix")) {
    if (p->empty() || p->find_first_of(" \t\r\n{}") != std::string::npos) {
      redis.fail("prefix", "must be a non-empty key prefix without spaces or braces");
    }
    c.redis.prefix = *p;
  }
  c.redis.claim_idle_seconds = seconds(redis, "claim_idle_seconds", c.redis.claim_idle_seconds, 0.1, 86400);
  c.redis.heartbeat_seconds = seconds(redis, "heartbeat_seconds", c.redis.heartbeat_seconds, 0.05, 3600);
  c.redis.worker_ttl_seconds = seconds(redis, "worker_ttl_seconds", c.redis.worker_ttl_seconds, 0.1, 86400);
  c.redis.block_seconds = seconds(redis, "block_seconds", c.redis.block_seconds, 0.01, 60);
  c.redis.max_attempts = whole<int>(redis, "max_attempts", c.redis.max_attempts, 1, 1000);
  c.redis.job_ttl_seconds = seconds(redis, "job_ttl_seconds", c.redis.job_ttl_seconds, 1, 365 * 86400.0);
  if (c.redis.heartbeat_seconds >= c.redis.claim_idle_seconds) {
    redis.fail("heartbeat_seconds", "must be shorter than claim_idle_seconds (a live worker's job would be claimed)");
  }
  if (c.redis.heartbeat_seconds >= c.redis.worker_ttl_seconds) {
    redis.fail("heartbeat_seconds", "must be shorter than worker_ttl_seconds (a live worker would expire)");
  }

  std::vector<FieldReader> type_readers;
  if (types_json) {
    for (auto it = types_json->begin(); it != types_json->end(); ++it) {
      const std::string path = std::string(kCommunication) + ".job_types." + it.key();
      if (!it.value().is_object()) throw Error(kCfg, path + ": must be an object", path);
      FieldReader type(it.value(), path, kCfg);
      c.job_types[it.key()] = parse_job_type(type);
      collect_unknown(type, c.warnings);
    }
  }
  for (const FieldReader* r : {&section, &http, &redis}) collect_unknown(*r, c.warnings);
  // The communication section's own keys belong to utilities/config.cpp: only ours are reported.
  c.warnings.erase(std::remove_if(c.warnings.begin(), c.warnings.end(),
                                  [](const std::string& w) {
                                    return w.find(std::string(kCommunication) + ".http") == std::string::npos &&
                                           w.find(std::string(kCommunication) + ".redis") == std::string::npos &&
                                           w.find(std::string(kCommunication) + ".job_types") == std::string::npos;
                                  }),
                   c.warnings.end());

  if (auto key = env("SDXL_WORKERS_API_KEY")) c.http.api_key = *key;
  if (auto hosts = env("SDXL_WORKERS_CALLBACK_HOSTS")) c.http.callback_hosts = comma_list(*hosts);
  if (auto url = env("SDXL_WORKERS_REDIS_URL")) c.redis.url = *url;
  return c;
}

ServiceConfig load_service_config(const std::optional<std::string>& path, const EnvLookup& env) {
  return parse_service_config(read_config_file(path), env);
}

nlohmann::json to_json(const ServiceConfig& c) {
  nlohmann::json types = nlohmann::json::object();
  for (const auto& [name, preset] : c.job_types) {
    types[name] = {{"defaults", preset.defaults}, {"batch_sizes", preset.batch_sizes}};
  }
  return {{"http",
           {{"api_key", c.http.api_key.empty() ? nlohmann::json(nullptr) : nlohmann::json("***")},
            {"callback_hosts", c.http.callback_hosts},
            {"max_body_bytes", c.http.max_body_bytes},
            {"max_header_bytes", c.http.max_header_bytes},
            {"read_timeout_seconds", c.http.read_timeout_seconds},
            {"idle_timeout_seconds", c.http.idle_timeout_seconds},
            {"max_connections", c.http.max_connections},
            {"asset_base_url", c.http.asset_base_url},
            {"callback_timeout_seconds", c.http.callback_timeout_seconds},
            {"callback_attempts", c.http.callback_attempts},
            {"callback_backoff_seconds", c.http.callback_backoff_seconds}}},
          {"redis",
           {{"url", masked_url(c.redis.url)},
            {"prefix", c.redis.prefix},
            {"claim_idle_seconds", c.redis.claim_idle_seconds},
            {"heartbeat_seconds", c.redis.heartbeat_seconds},
            {"worker_ttl_seconds", c.redis.worker_ttl_seconds},
            {"block_seconds", c.redis.block_seconds},
            {"max_attempts", c.redis.max_attempts},
            {"job_ttl_seconds", c.redis.job_ttl_seconds}}},
          {"job_types", types}};
}

}  // namespace workers
