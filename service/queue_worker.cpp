#include "service/queue_worker.h"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <optional>

#include "communication/envelope.h"
#include "interface/workers_interface.h"
#include "service/callback.h"
#include "service/job_request.h"
#include "service/job_store.h"
#include "service/redis_client.h"
#include "utilities/logging.h"

namespace workers {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;
namespace fs = std::filesystem;

// Failures another attempt (maybe on another worker) can cure: the job stays in the stream.
bool retryable(const json& response) {
  if (response.value("success", false) || !response["error"].is_object()) return false;
  const std::string code = response["error"].value("code", "");
  return code == "OOM_ERROR" || code == "WORKER_UNAVAILABLE" || code == "INTERNAL_ERROR";
}

json failure_response(const std::string& job_id, const Error& error) {
  return make_failure({job_id, "inference_response", {}, 0.0}, error);
}

// The engine's events for one job, handed from the loop thread to the consumer thread.
class EventInbox {
 public:
  void push(const json& message) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      messages_.push_back(message);
    }
    ready_.notify_one();
  }
  std::optional<json> pop(std::chrono::milliseconds wait) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (!ready_.wait_for(lock, wait, [this] { return !messages_.empty(); })) return std::nullopt;
    json message = std::move(messages_.front());
    messages_.pop_front();
    return message;
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<json> messages_;
};

}  // namespace

struct QueueWorker::Impl {
  WorkersInterface& engine;
  ServiceConfig config;
  WorkerSettings settings;
  CallbackAllowList allow;
  CallbackPolicy policy;
  RedisUrl url;
  std::unique_ptr<RedisClient> redis;  // the consumer thread's connection
  std::unique_ptr<JobStore> store;
  std::atomic<bool> draining{false};
  std::thread consumer;
  std::thread heartbeat;
  std::mutex heartbeat_mutex;
  std::condition_variable heartbeat_wake;
  bool heartbeat_stop = false;

  mutable std::mutex mutex;  // guards what status() reads
  std::optional<QueuedJob> current;
  std::string state = "starting";
  long long completed = 0, failed = 0, skipped = 0;
  std::string last_error;
  int exit_code = 0;

  Impl(WorkersInterface& e, ServiceConfig c, WorkerSettings s)
      : engine(e),
        config(std::move(c)),
        settings(std::move(s)),
        allow(config.http.callback_hosts),
        policy{config.http.callback_attempts, config.http.callback_backoff_seconds,
               config.http.callback_timeout_seconds},
        url(parse_redis_url(config.redis.url, "redis")) {}

  json registration() const {
    json info = settings.info;
    info["status"] = status();
    info["heartbeat_at"] = utc_timestamp();
    return info;
  }

  json status() const {
    std::lock_guard<std::mutex> lock(mutex);
    return {{"state", state},
            {"worker_id", settings.worker_id},
            {"current_job", current ? json(current->job_id) : json(nullptr)},
            {"jobs_completed", completed},
            {"jobs_failed", failed},
            {"jobs_skipped", skipped},
            {"last_error", last_error.empty() ? json(nullptr) : json(last_error)}};
  }

  void note_error(const std::string& what) {
    get_logger()->error("{}", what);
    std::lock_guard<std::mutex> lock(mutex);
    last_error = what;
  }

  // ---- consumer thread ------------------------------------------------------------------------
  void consume() {
    {
      std::lock_guard<std::mutex> lock(mutex);
      state = "running";
    }
    while (!draining) {
      std::optional<QueuedJob> job;
      try {
        job = store->next(settings.worker_id);
      } catch (const Error& e) {
        note_error(std::string("taking a job from Redis: ") + e.what() + "; retrying in 1 s");
        std::this_thread::sleep_for(std::chrono::seconds(1));
        try {
          store->ensure_group();  // a restarted redis-server without persistence lost the group
        } catch (const Error&) {
        }
        continue;
      }
      if (!job) continue;
      try {
        handle(*job);
      } catch (const std::exception& e) {
        // Redis went away mid-job, or a file could not be published: the entry stays pending and
        // is claimed again (here or elsewhere) after claim_idle_seconds.
        note_error("job " + job->job_id + ": " + e.what() + " (left in the queue for another attempt)");
      }
      std::lock_guard<std::mutex> lock(mutex);
      current.reset();
    }
    std::lock_guard<std::mutex> lock(mutex);
    state = "stopped";
  }

  void handle(const QueuedJob& job) {
    const std::string& id = job.job_id;
    const int attempts = store->count_attempt(id);
    std::optional<json> record = store->get(id);
    const std::string recorded_state = record ? record->value("state", "") : "";
    if (is_final_state(recorded_state)) {
      // Finished in an earlier delivery whose worker died (or failed to call back) before the ack.
      get_logger()->info("job {} was already {}: not generated again", id, recorded_state);
      return deliver_and_ack(job, *record, attempts);
    }
    if (!store->lock(id, settings.worker_id)) {
      get_logger()->info("job {} is being generated by another worker; left to it", id);
      std::lock_guard<std::mutex> lock(mutex);
      ++skipped;
      return;
    }
    struct Unlock {
      Impl& impl;
      const std::string& id;
      ~Unlock() {
        try {
          impl.store->unlock(id, impl.settings.worker_id);
        } catch (const std::exception&) {
        }
      }
    } unlock{*this, id};
    {
      std::lock_guard<std::mutex> lock(mutex);
      current = job;
    }
    ServiceJob service_job;
    service_job.job_id = id;
    if (record) {
      service_job.callback_url = record->value("callback_url", "");
      service_job.job_type = record->value("job_type", "");
    }
    const auto started = Clock::now();
    json response;
    if (attempts > config.redis.max_attempts) {
      const Error error(ErrorCode::kWorkerUnavailable,
                        "job " + id + " was delivered " + std::to_string(attempts) +
                            " times without finishing (max_attempts " + std::to_string(config.redis.max_attempts) +
                            "); moved to the dead-letter stream");
      return finish(job, service_job, failure_response(id, error), attempts, started, error.what());
    }
    if (record && record->value("cancel", false)) {
      return finish(job, service_job,
                    failure_response(id, Error(ErrorCode::kCancelled, "the job was cancelled before it started")),
                    attempts, started, "");
    }
    try {
      if (job.payload.is_null()) throw Error(ErrorCode::kInvalidRequest, "payload: the queued job is not JSON", "payload");
      service_job = prepare_job(job.payload, config, allow);
    } catch (const Error& e) {
      return finish(job, service_job, failure_response(id, e), attempts, started, "");
    }
    store->update(id, {{"state", "processing"},
                       {"worker_id", settings.worker_id},
                       {"started_at", utc_timestamp()},
                       {"job_type", service_job.job_type},
                       {"callback_url", service_job.callback_url}});
    if (!service_job.callback_url.empty()) {
      CallbackPolicy once = policy;
      once.attempts = 1;
      deliver_callback(service_job.callback_url, processing_callback(context(service_job, 0, attempts)), once);
    }
    response = run(id, service_job.request);
    if (response.value("success", false)) publish_files(response);
    if (retryable(response)) {
      const json error = response["error"];
      if (attempts < config.redis.max_attempts) {
        get_logger()->warn("job {} failed with {} on attempt {}; left in the queue for another", id,
                           error.value("code", ""), attempts);
        store->update(id, {{"state", "queued"}, {"last_error", error}, {"worker_id", ""}});
        return;
      }
      store->update(id, {{"last_error", error}});
      return finish(job, service_job, response, attempts, started,
                    "failed on all " + std::to_string(attempts) + " attempts; last: " + error.value("code", "") +
                        ": " + error.value("message", ""));
    }
    finish(job, service_job, response, attempts, started, "");
  }

  CallbackContext context(const ServiceJob& job, double seconds, int attempts) const {
    return {job.job_id, settings.worker_id, job.job_type, seconds, attempts, config.http.asset_base_url};
  }

  // Runs one job through the engine, mirroring its progress into the status hash and passing a
  // cancellation asked for through Redis on to the engine.
  json run(const std::string& id, const json& request) {
    auto inbox = std::make_shared<EventInbox>();
    engine.submit(request, [inbox](const json& message) { inbox->push(message); });
    auto last_write = Clock::now() - std::chrono::seconds(1);
    auto last_cancel_check = Clock::now();
    bool cancel_sent = false;
    json progress;
    for (;;) {
      auto message = inbox->pop(std::chrono::milliseconds(250));
      const auto now = Clock::now();
      if (message && !message->contains("event")) return *message;
      if (message) {
        progress = progress_of(*message);
        if (now - last_write >= std::chrono::milliseconds(200)) {
          store->update(id, {{"progress", progress}});
          last_write = now;
        }
      }
      if (!cancel_sent && now - last_cancel_check >= std::chrono::milliseconds(250)) {
        last_cancel_check = now;
        if (store->cancel_requested(id)) {
          cancel_sent = true;
          get_logger()->info("job {}: cancellation requested through Redis", id);
          engine.submit({{"message_type", "cancel_request"}, {"request_id", "redis-cancel-" + id},
                         {"target_request_id", id}},
                        [](const json&) {});
        }
      }
    }
  }

  // Moves each file from this worker's staging folder to the output root under the same name.
  // rename() replaces: a file left by an attempt that died after publishing is overwritten, so a
  // job never has two copies.
  void publish_files(json& response) {
    auto& assets = response["data"]["assets"];
    if (!assets.is_array()) return;
    for (auto& asset : assets) {
      if (!asset.contains("path") || !asset["path"].is_string()) continue;
      const fs::path from = asset["path"].get<std::string>();
      const fs::path to = fs::path(settings.output_root) / from.filename();
      fs::rename(from, to);
      asset["path"] = to.string();
    }
  }

  // Records the final state, calls back and acknowledges.
  void finish(const QueuedJob& job, const ServiceJob& service_job, const json& response, int attempts,
              Clock::time_point started, const std::string& dead_letter_reason) {
    const std::string state = final_state_of(response);
    const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
    json fields = {{"state", state},
                   {"result", response.value("data", json(nullptr))},
                   {"error", response.value("error", json(nullptr))},
                   {"warnings", response.value("warnings", json::array())},
                   {"finished_at", utc_timestamp()},
                   {"processing_time", seconds},
                   {"worker_id", settings.worker_id},
                   {"progress", nullptr}};
    if (!service_job.callback_url.empty()) {
      fields["callback_url"] = service_job.callback_url;
      fields["callback_body"] = completion_callback(context(service_job, seconds, attempts), response).dump();
    }
    store->update(job.job_id, fields);
    {
      std::lock_guard<std::mutex> lock(mutex);
      (state == "completed" ? completed : failed) += 1;
    }
    get_logger()->info("job {} {} in {:.2f} s (attempt {})", job.job_id, state, seconds, attempts);
    auto record = store->get(job.job_id);
    if (!dead_letter_reason.empty()) {
      if (record) deliver(*record);
      store->dead_letter(job, dead_letter_reason, attempts);
      return;
    }
    if (record) deliver_and_ack(job, *record, attempts);
  }

  // Posts the recorded callback unless it was delivered already; records the outcome.
  bool deliver(const json& record) {
    const std::string callback_url = record.value("callback_url", "");
    if (callback_url.empty()) return true;
    if (record["callback"].is_object() && record["callback"].value("delivered", false)) return true;
    json body;
    try {
      body = json::parse(record.value("callback_body", ""));
    } catch (const json::exception&) {
      return true;  // nothing to send (a job finished before its callback was recorded)
    }
    CallbackOutcome outcome;
    try {
      allow.check(callback_url);
      outcome = deliver_callback(callback_url, body, policy);
    } catch (const Error& e) {
      outcome.url = callback_url;
      outcome.error = e.what();
      outcome.delivered = false;
      store->update(record.value("job_id", ""), {{"callback", outcome.to_json()}});
      return true;  // refused by this worker's allow-list: retrying cannot help
    }
    store->update(record.value("job_id", ""), {{"callback", outcome.to_json()}});
    if (outcome.delivered) return true;
    get_logger()->warn("callback of job {} not delivered: {}", record.value("job_id", ""), outcome.error);
    // A 4xx is the receiver's answer (it refuses the callback): another delivery cannot change it.
    return outcome.status >= 400 && outcome.status < 500;
  }

  void deliver_and_ack(const QueuedJob& job, const json& record, int attempts) {
    if (deliver(record)) {
      store->ack(job.entry_id);
    } else if (attempts >= config.redis.max_attempts) {
      store->dead_letter(job, "callback not delivered after " + std::to_string(attempts) + " deliveries", attempts);
    }
    // else: left pending; the next delivery only calls back.
  }

  // ---- heartbeat thread -----------------------------------------------------------------------
  void beat() {
    std::unique_ptr<RedisClient> connection;
    std::unique_ptr<JobStore> beats;
    auto next_prune = Clock::now();
    std::unique_lock<std::mutex> lock(heartbeat_mutex);
    while (!heartbeat_stop) {
      lock.unlock();
      try {
        if (!connection) {
          connection = std::make_unique<RedisClient>(url, 5.0);
          beats = std::make_unique<JobStore>(*connection, config.redis);
        }
        beats->register_worker(settings.worker_id, registration());
        std::optional<QueuedJob> job;
        {
          std::lock_guard<std::mutex> status_lock(mutex);
          job = current;
        }
        if (job) beats->refresh(*job, settings.worker_id);
        // Consumers of workers that are gone pile up in the group: drop them once per TTL.
        if (Clock::now() >= next_prune) {
          for (const auto& name : beats->prune_consumers()) {
            get_logger()->info("consumer {} of a worker that is gone removed from {}", name, beats->group());
          }
          next_prune = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                          std::chrono::duration<double>(config.redis.worker_ttl_seconds));
        }
      } catch (const std::exception& e) {
        get_logger()->warn("heartbeat: {}", e.what());
        beats.reset();
        connection.reset();
      }
      lock.lock();
      heartbeat_wake.wait_for(lock, std::chrono::duration<double>(config.redis.heartbeat_seconds),
                              [this] { return heartbeat_stop; });
    }
    lock.unlock();
    try {
      if (beats) beats->unregister_worker(settings.worker_id);
    } catch (const std::exception& e) {
      get_logger()->warn("unregistering {}: {}", settings.worker_id, e.what());
    }
  }
};

QueueWorker::QueueWorker(WorkersInterface& engine, ServiceConfig config, WorkerSettings settings)
    : impl_(std::make_unique<Impl>(engine, std::move(config), std::move(settings))) {}

QueueWorker::~QueueWorker() {
  drain();
  wait();
}

void QueueWorker::start() {
  Impl& impl = *impl_;
  impl.redis = std::make_unique<RedisClient>(impl.url, 5.0);
  impl.redis->set_timeout(impl.config.redis.block_seconds + 5.0);
  impl.store = std::make_unique<JobStore>(*impl.redis, impl.config.redis);
  impl.store->ensure_group();
  impl.store->register_worker(impl.settings.worker_id, impl.registration());
  get_logger()->info("worker {} consuming {} (group {}) at {}", impl.settings.worker_id, impl.store->stream(),
                     impl.store->group(), impl.url.text);
  impl.heartbeat = std::thread([&impl] { impl.beat(); });
  impl.consumer = std::thread([&impl] { impl.consume(); });
}

void QueueWorker::set_url(const std::string& url) { impl_->settings.info["url"] = url; }

void QueueWorker::drain() {
  if (!impl_->draining.exchange(true)) {
    get_logger()->info("worker {}: draining (no new jobs; the current one finishes)", impl_->settings.worker_id);
    std::lock_guard<std::mutex> lock(impl_->mutex);
    if (impl_->state == "running") impl_->state = "draining";
  }
}

int QueueWorker::wait() {
  Impl& impl = *impl_;
  if (impl.consumer.joinable()) impl.consumer.join();
  {
    std::lock_guard<std::mutex> lock(impl.heartbeat_mutex);
    impl.heartbeat_stop = true;
  }
  impl.heartbeat_wake.notify_all();
  if (impl.heartbeat.joinable()) impl.heartbeat.join();
  return impl.exit_code;
}

nlohmann::json QueueWorker::status() const { return impl_->status(); }

const std::string& QueueWorker::worker_id() const { return impl_->settings.worker_id; }

}  // namespace workers
