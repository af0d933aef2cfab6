// ServiceConfig: the service-mode settings (HTTP server, Redis queue, callbacks, job types) read from
// workers.instructors.communication.{http,redis,job_types} of the same config file, plus the
// SDXL_WORKERS_API_KEY / SDXL_WORKERS_CALLBACK_HOSTS / SDXL_WORKERS_REDIS_URL environment overrides.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "utilities/config.h"

namespace workers {

struct HttpConfig {
  std::string api_key;                      // empty: no auth, and only a loopback bind is allowed
  std::vector<std::string> callback_hosts;  // "host:port" callback targets may name; empty: none
  std::size_t max_body_bytes = 16u << 20;   // a larger body is answered 413
  std::size_t max_header_bytes = 16u << 10;  // larger request headers are answered 431
  double read_timeout_seconds = 30;   // a request must arrive whole within this (slow-loris: 408)
  double idle_timeout_seconds = 60;   // a keep-alive connection with no request is closed
  std::size_t max_connections = 256;  // more are answered 503 and closed
  std::string asset_base_url;  // callback asset URLs: this + file name; empty: file:// URLs
  double callback_timeout_seconds = 10;
  int callback_attempts = 3;               // deliveries tried per callback (network error or 5xx)
  double callback_backoff_seconds = 0.5;   // first retry waits this, doubling
};

struct RedisConfig {
  std::string url;              // redis://host:port/db or unix:///path; empty: none
  std::string prefix = "sdxl";  // key prefix (service/job_store.h)
  double claim_idle_seconds = 60;  // a pending job whose worker stopped refreshing it is claimed after this
  double heartbeat_seconds = 5;    // registration refresh + running-job refresh interval
  double worker_ttl_seconds = 15;  // registration expires this long after the last heartbeat
  double block_seconds = 1;        // one XREADGROUP wait
  int max_attempts = 3;            // deliveries before a job goes to the dead-letter stream
  double job_ttl_seconds = 86400;  // status hashes expire this long after their last update
};

// A job type: request defaults (fields the request leaves out) and the batch sizes it allows.
struct JobTypePreset {
  nlohmann::json defaults = nlohmann::json::object();
  std::vector<int> batch_sizes;  // empty: any
};

struct ServiceConfig {
  HttpConfig http;
  RedisConfig redis;
  // Defaults: sdxl_image_fast (15 steps) and sdxl_image_high (25 steps), batch 1, 3 or 6.
  std::map<std::string, JobTypePreset> job_types;
  std::vector<std::string> warnings;
};

// Parses the service sections of a whole config document; throws Error(CONFIG_ERROR) naming the
// field (e.g. "workers.instructors.communication.http.max_body_bytes").
ServiceConfig parse_service_config(const nlohmann::json& document, const EnvLookup& env);
// Reads `path` (if given) and parses its service sections with the environment overrides.
ServiceConfig load_service_config(const std::optional<std::string>& path, const EnvLookup& env);
nlohmann::json to_json(const ServiceConfig& config);

}  // namespace workers
