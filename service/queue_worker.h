// QueueWorker: `sdxl-workers worker`'s consumer. One thread takes jobs from the Redis stream's
// consumer group (claiming those of dead workers first), runs each through the same
// WorkersInterface as every other host, moves its files into the output root, records the status
// hash, posts the callback and only then acknowledges; a second thread keeps the registration and
// the running job's claim alive. drain() stops claiming; the job in hand finishes.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "service/service_config.h"

namespace workers {

class WorkersInterface;

struct WorkerSettings {
  std::string worker_id;
  nlohmann::json info;       // the registration (id, host, url, capabilities, version)
  std::string output_root;   // where finished jobs' files are published
  std::string staging_root;  // the engine's output root (this worker's own folder)
};

class QueueWorker {
 public:
  QueueWorker(WorkersInterface& engine, ServiceConfig config, WorkerSettings settings);
  ~QueueWorker();
  QueueWorker(const QueueWorker&) = delete;
  QueueWorker& operator=(const QueueWorker&) = delete;

  // Connects (throws Error(WORKER_UNAVAILABLE) when Redis cannot be reached), creates the
  // consumer group, registers, and starts the consumer and heartbeat threads.
  void start();
  // The registration's "url" (the worker's own HTTP API); call before start().
  void set_url(const std::string& url);
  // Stops claiming new jobs; the current one finishes (callback and acknowledgement included).
  // Safe from any thread; idempotent.
  void drain();
  // Blocks until the consumer has stopped (after drain(), or a fatal Redis error), then
  // unregisters. Returns 0, or 1 when the consumer stopped on an error.
  int wait();
  // {state: running|draining|stopped, worker_id, current_job, jobs_completed, jobs_failed,
  //  jobs_skipped, last_error} — any thread.
  nlohmann::json status() const;
  const std::string& worker_id() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace workers
