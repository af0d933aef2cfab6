#include "service/local_jobs.h"

#include <algorithm>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include <boost/asio/post.hpp>

#include "communication/envelope.h"
#include "interface/workers_interface.h"
#include "service/callback.h"

namespace workers {

using nlohmann::json;

// Delivers callbacks of local jobs in order on one thread (they sleep between retries).
class CallbackQueue {
 public:
  explicit CallbackQueue(CallbackPolicy policy) : policy_(policy), thread_([this] { run(); }) {}
  ~CallbackQueue() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    changed_.notify_all();
    thread_.join();
  }
  void push(std::string url, json body, std::function<void(CallbackOutcome)> done) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      items_.push_back({std::move(url), std::move(body), std::move(done)});
    }
    changed_.notify_all();
  }
  void wait_empty() {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [this] { return items_.empty() && !busy_; });
  }

 private:
  struct Item {
    std::string url;
    json body;
    std::function<void(CallbackOutcome)> done;
  };
  void run() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      changed_.wait(lock, [this] { return stopping_ || !items_.empty(); });
      if (items_.empty()) return;  // stopping, nothing left
      Item item = std::move(items_.front());
      items_.pop_front();
      busy_ = true;
      lock.unlock();
      CallbackOutcome outcome = deliver_callback(item.url, item.body, policy_);
      if (item.done) item.done(std::move(outcome));
      lock.lock();
      busy_ = false;
      changed_.notify_all();
    }
  }
  CallbackPolicy policy_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Item> items_;
  bool busy_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

namespace {
constexpr std::size_t kKeepFinished = 1000;
}

LocalJobs::LocalJobs(WorkersInterface& engine, std::string worker_id, HttpConfig http)
    : engine_(engine),
      worker_id_(std::move(worker_id)),
      http_(std::move(http)),
      callbacks_(std::make_unique<CallbackQueue>(
          CallbackPolicy{http_.callback_attempts, http_.callback_backoff_seconds, http_.callback_timeout_seconds})) {}

LocalJobs::~LocalJobs() = default;

json LocalJobs::view_of(const Job& job) const {
  return {{"job_id", job.job_id},
          {"state", job.state},
          {"progress", job.progress},
          {"result", job.result},
          {"error", job.error},
          {"warnings", job.warnings},
          {"job_type", job.job_type.empty() ? json(nullptr) : json(job.job_type)},
          {"callback", job.callback},
          {"created_at", job.created_at},
          {"updated_at", job.updated_at},
          {"worker_id", worker_id_}};
}

void LocalJobs::run(const ServiceJob& job, std::shared_ptr<HttpReply> waiter) {
  auto known = jobs_.find(job.job_id);
  if (known != jobs_.end()) {
    throw Error(ErrorCode::kInvalidRequest,
                "job_id: job " + job.job_id + " is already known (state " + known->second.state + ")", "job_id");
  }
  Job& entry = jobs_[job.job_id];
  entry.job_id = job.job_id;
  entry.job_type = job.job_type;
  entry.callback_url = job.callback_url;
  entry.created_at = entry.updated_at = utc_timestamp();
  if (waiter) entry.waiters.push_back(std::move(waiter));
  std::weak_ptr<LocalJobs> weak = weak_from_this();
  const std::string id = job.job_id;
  try {
    engine_.submit(job.request, [weak, id](const json& message) {
      if (auto self = weak.lock()) self->on_engine_event(id, message);
    });
  } catch (...) {
    jobs_.erase(id);
    throw;
  }
}

std::optional<json> LocalJobs::view(const std::string& id) const {
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return std::nullopt;
  return view_of(it->second);
}

std::optional<std::string> LocalJobs::cancel(const std::string& id) {
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return std::nullopt;
  if (!is_final_state(it->second.state)) {
    engine_.submit({{"message_type", "cancel_request"},
                    {"request_id", "http-cancel-" + std::to_string(++next_cancel_)},
                    {"target_request_id", id}},
                   [](const json&) {});
  }
  return it->second.state;
}

bool LocalJobs::stream(const std::string& id, const std::shared_ptr<HttpReply>& reply) {
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return false;
  Job& job = it->second;
  reply->start_events();
  const json view = view_of(job);
  reply->event("state", view.dump());
  if (is_final_state(job.state)) {
    reply->event(job.state, view.dump());
    reply->end_events();
    return true;
  }
  job.streams.push_back(reply);
  std::weak_ptr<LocalJobs> weak = weak_from_this();
  reply->on_close([weak, id, raw = reply.get()] {
    auto self = weak.lock();
    if (!self) return;
    auto found = self->jobs_.find(id);
    if (found == self->jobs_.end()) return;
    auto& streams = found->second.streams;
    streams.erase(std::remove_if(streams.begin(), streams.end(), [raw](const auto& s) { return s.get() == raw; }),
                  streams.end());
  });
  return true;
}

void LocalJobs::on_engine_event(const std::string& id, const json& message) {
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return;
  Job& job = it->second;
  job.updated_at = utc_timestamp();
  if (message.contains("event")) {
    job.state = "processing";
    job.progress = progress_of(message);
    for (auto& stream : job.streams) stream->event("progress", job.progress.dump());
    if (!job.processing_sent && !job.callback_url.empty()) {
      job.processing_sent = true;
      CallbackContext context{id, worker_id_, job.job_type, 0, 1, http_.asset_base_url};
      callbacks_->push(job.callback_url, processing_callback(context), nullptr);
    }
    return;
  }
  job.state = final_state_of(message);
  job.result = message.value("data", json(nullptr));
  job.error = message.value("error", json(nullptr));
  job.warnings = message.value("warnings", json::array());
  const json view = view_of(job);
  for (auto& stream : job.streams) {
    stream->event(job.state, view.dump());
    stream->end_events();
  }
  job.streams.clear();
  for (auto& waiter : job.waiters) waiter->send(json_response(200, view));
  job.waiters.clear();
  if (!job.callback_url.empty()) {
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - job.created).count();
    CallbackContext context{id, worker_id_, job.job_type, seconds, 1, http_.asset_base_url};
    std::weak_ptr<LocalJobs> weak = weak_from_this();
    auto& io = engine_.io_context();
    callbacks_->push(job.callback_url, completion_callback(context, message), [weak, id, &io](CallbackOutcome outcome) {
      boost::asio::post(io, [weak, id, outcome = outcome.to_json()] {
        auto self = weak.lock();
        if (!self) return;
        auto found = self->jobs_.find(id);
        if (found != self->jobs_.end()) found->second.callback = outcome;
      });
    });
  }
  finished_.push_back(id);
  forget_old();
}

void LocalJobs::forget_old() {
  while (finished_.size() > kKeepFinished) {
    jobs_.erase(finished_.front());
    finished_.pop_front();
  }
}

void LocalJobs::stop() {
  for (auto& [id, job] : jobs_) {
    for (auto& stream : job.streams) stream->end_events();
    job.streams.clear();
  }
}

void LocalJobs::finish_callbacks() { callbacks_->wait_empty(); }

}  // namespace workers
