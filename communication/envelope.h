// The response envelope and progress events written back to the host: one JSON object per
// message, with the fields docs/protocol.md and communication/schemas/ describe.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "utilities/error.h"
#include "utilities/job_context.h"

namespace workers {

struct ResponseMeta {
  std::string request_id;    // "" becomes null (the line could not be read far enough)
  std::string message_type;  // e.g. "status_response"; "" becomes "error_response"
  std::vector<std::string> warnings;
  double execution_time = 0.0;  // seconds from receipt to response
};

nlohmann::json make_success(const ResponseMeta& meta, nlohmann::json data);
nlohmann::json make_failure(const ResponseMeta& meta, const Error& error);

// {request_id, event: "progress", step, total, stage, elapsed, eta, ...extra, timestamp}
nlohmann::json make_progress(const std::string& request_id, const ProgressUpdate& update, double elapsed);

// UTC, ISO 8601 with milliseconds: 2026-11-24T16:20:00.123Z
std::string utc_timestamp();

}  // namespace workers
