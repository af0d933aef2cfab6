// HttpApi: the service's endpoints over one WorkersInterface (docs/protocol.md §9). Without Redis,
// POST /generate runs jobs in this process and keeps their state here; with Redis, it enqueues
// them (a front door) and /jobs/{id} reads the shared status hashes, so any worker answers for any
// job. Every handler runs on the engine's loop thread.
#pragma once

#include <memory>
#include <string>

#include "service/http_server.h"
#include "service/service_config.h"

namespace workers {

class WorkersInterface;
class QueueWorker;

struct ServiceIdentity {
  std::string worker_id;
  std::string mode;      // "http" (jobs run here), "front_door" (jobs go to Redis), "worker"
  std::string hostname;
  std::string url;       // "http://host:port" once listening
};

class HttpApi {
 public:
  // `worker`: this process's queue consumer (worker mode), reported by /health; may be null.
  // Connects to Redis when config.redis.url is set (throws Error(WORKER_UNAVAILABLE) if it cannot).
  HttpApi(WorkersInterface& engine, ServiceConfig config, ServiceIdentity identity,
          const QueueWorker* worker = nullptr);
  ~HttpApi();
  HttpApi(const HttpApi&) = delete;
  HttpApi& operator=(const HttpApi&) = delete;

  // The HttpServer handler.
  void handle(const HttpRequest& request, std::shared_ptr<HttpReply> reply);
  void set_url(const std::string& url);
  // Ends event streams and pending waits (loop thread; before the server stops).
  void stop();
  // Blocks until every local job's callback has been attempted (call after the loop drained).
  void finish_callbacks();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// The worker's registration and /worker/info body: worker type, version, capabilities, job types.
nlohmann::json worker_capabilities(const ServiceConfig& config);

}  // namespace workers
