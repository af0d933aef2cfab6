// LocalJobs: the jobs `sdxl-workers http` runs in its own process (no Redis): their state for
// /jobs/{id}, their event streams and waits, and their callbacks. Loop thread only.
#pragma once

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "service/http_server.h"
#include "service/job_request.h"
#include "service/service_config.h"

namespace workers {

class WorkersInterface;
class CallbackQueue;

class LocalJobs : public std::enable_shared_from_this<LocalJobs> {
 public:
  LocalJobs(WorkersInterface& engine, std::string worker_id, HttpConfig http);
  ~LocalJobs();

  // Submits the job to the engine; `waiter` (may be null) is answered 200 with the finished job.
  // Throws Error(INVALID_REQUEST, field job_id) for an id known here, or the engine's Error.
  void run(const ServiceJob& job, std::shared_ptr<HttpReply> waiter);
  // The job as GET /jobs/{id} shows it; nullopt when unknown (or forgotten: the last 1000
  // finished jobs are kept).
  std::optional<nlohmann::json> view(const std::string& id) const;
  // Asks the engine to cancel a job that is not finished; returns the state it was in (nullopt:
  // unknown).
  std::optional<std::string> cancel(const std::string& id);
  // Streams the job's state, its progress and its final state as server-sent events; false when
  // the job is unknown.
  bool stream(const std::string& id, const std::shared_ptr<HttpReply>& reply);
  std::size_t size() const { return jobs_.size(); }
  // Ends every event stream.
  void stop();
  // Blocks until every callback queued so far has been attempted (not on the loop thread).
  void finish_callbacks();

 private:
  struct Job {
    std::string job_id;
    std::string job_type;
    std::string callback_url;
    std::string state = "queued";
    nlohmann::json progress = nullptr;
    nlohmann::json result = nullptr;
    nlohmann::json error = nullptr;
    nlohmann::json warnings = nlohmann::json::array();
    nlohmann::json callback = nullptr;
    std::string created_at;
    std::string updated_at;
    std::chrono::steady_clock::time_point created = std::chrono::steady_clock::now();
    bool processing_sent = false;
    std::vector<std::shared_ptr<HttpReply>> streams;
    std::vector<std::shared_ptr<HttpReply>> waiters;
  };
  nlohmann::json view_of(const Job& job) const;
  void on_engine_event(const std::string& id, const nlohmann::json& message);
  void forget_old();

  WorkersInterface& engine_;
  std::string worker_id_;
  HttpConfig http_;
  std::map<std::string, Job> jobs_;
  std::deque<std::string> finished_;  // oldest first
  std::unique_ptr<CallbackQueue> callbacks_;
  unsigned long long next_cancel_ = 0;
};

}  // namespace workers
