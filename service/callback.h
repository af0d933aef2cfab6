// Job callbacks: the seeds' enhanced callback body built from an engine response, the allow-list
// of callback targets, and delivery with retries (network errors and 5xx, exponential backoff).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "service/http_client.h"

namespace workers {

// Callback targets a job may name: "host:port" entries (workers.instructors.communication.http.
// callback_hosts / SDXL_WORKERS_CALLBACK_HOSTS). Hosts compare case-insensitively and literally
// (no DNS: "localhost" and "127.0.0.1" are different entries). Empty: every callback is refused.
class CallbackAllowList {
 public:
  explicit CallbackAllowList(std::vector<std::string> host_ports);
  bool allows(const HttpUrl& url) const;
  // Throws Error(INVALID_REQUEST, field "callback_url") for a URL that does not parse or whose
  // host:port is not allowed ("callback_url: host evil.example:80 is not in the callback
  // allow-list (SDXL_WORKERS_CALLBACK_HOSTS)").
  HttpUrl check(const std::string& url) const;
  const std::vector<std::string>& entries() const { return entries_; }

 private:
  std::vector<std::string> entries_;  // normalised "host:port", lower-case
};

struct CallbackContext {
  std::string job_id;
  std::string worker_id;
  std::string job_type;          // "" when none
  double processing_time = 0;    // seconds the job took on this worker
  int attempts = 1;              // deliveries of the job so far
  std::string asset_base_url;    // "" : file:// URLs of the asset paths
};

// The callback body (docs/protocol.md §9): {job_id, worker_id, status, assets[{type, url,
// thumbnail_url, metadata{width, height, format, batch_size, steps, guidance_scale, seed,
// file_size_bytes, asset_index, denoise_strength, pipeline, negative_prompt_used, ...}}],
// metadata{processing_time, batch_size, ...}, error, timestamp}. `status`: "completed" when
// `response` succeeded, "failed" otherwise ({code, message, field} in `error`).
nlohmann::json completion_callback(const CallbackContext& context, const nlohmann::json& response);
// status "processing": no assets, metadata {started_at...}.
nlohmann::json processing_callback(const CallbackContext& context);
// The asset URL for a written file: asset_base_url + file name, or file://<absolute path>.
std::string asset_url(const std::string& path, const std::string& asset_base_url);

struct CallbackPolicy {
  int attempts = 3;
  double backoff_seconds = 0.5;  // before the 2nd attempt; doubles each time
  double timeout_seconds = 10;
};

struct CallbackOutcome {
  bool delivered = false;
  int attempts = 0;
  int status = 0;        // last HTTP status (0: no response)
  std::string error;     // the last failure, "" when delivered
  nlohmann::json to_json() const;  // {delivered, attempts, status, error, url}
  std::string url;
};

// POSTs `body` as JSON; retries network errors and 5xx, not 4xx. Blocks (sleeps between
// attempts): call it off the event loop. Never throws for delivery failures.
CallbackOutcome deliver_callback(const std::string& url, const nlohmann::json& body, const CallbackPolicy& policy);

}  // namespace workers
