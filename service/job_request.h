// A service job: the body of POST /generate (or a Redis stream entry) -> the engine request.
// Shared by the HTTP API and the queue worker so both read job_id, job_type and callback_url alike.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "service/service_config.h"

namespace workers {

class CallbackAllowList;

struct ServiceJob {
  std::string job_id;
  std::string job_type;      // "" when none
  std::string callback_url;  // "" when none
  nlohmann::json request;    // for WorkersInterface: the body without the service fields, request_id = job_id
  std::vector<std::string> warnings;
};

// A job id is a safe output file name: 1-100 of [A-Za-z0-9._-], not starting with '.'.
bool valid_job_id(const std::string& id);
// "job-" + 16 random hex digits.
std::string new_job_id();

// completed, failed and cancelled end a job; queued and processing do not.
bool is_final_state(const std::string& state);
// The final state an engine response puts its job in (CANCELLED errors: cancelled).
std::string final_state_of(const nlohmann::json& response);
// A progress event's {step, total, stage, elapsed, eta}: the job's `progress`.
nlohmann::json progress_of(const nlohmann::json& event);

// Reads the service fields of `body` (a JSON object in any request format the engine takes):
// job_id (string or integer; else request_id; else a new id), job_type (a configured preset: its
// defaults fill fields the body leaves out, its batch sizes bound batch_size), callback_url (checked
// against `allow`). Throws Error(INVALID_REQUEST) naming the field. Engine-side validation (prompt,
// sizes, models, ...) happens when the job runs.
ServiceJob prepare_job(const nlohmann::json& body, const ServiceConfig& config, const CallbackAllowList& allow);

}  // namespace workers
