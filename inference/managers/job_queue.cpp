#include "inference/managers/job_queue.h"

#include <chrono>
#include <new>

#include <boost/asio/post.hpp>

#include "utilities/logging.h"

namespace workers {

struct JobQueue::Entry {
  Job job;
  CancellationToken token;
  JobState state = JobState::kQueued;   // guarded by JobQueue::mutex_
  std::pair<int, unsigned long long> key;  // position in queue_ while queued
  bool answered = false;                // io thread only
  std::unique_ptr<boost::asio::steady_timer> timer;  // io thread only
};

JobQueue::JobQueue(boost::asio::io_context& io, int max_concurrent, std::size_t capacity)
    : io_(io), capacity_(capacity) {
  for (int i = 0; i < max_concurrent; ++i) threads_.emplace_back([this] { worker_loop(); });
}

JobQueue::~JobQueue() {
  stop();
  std::unique_lock<std::mutex> lock(mutex_);
  while (posted_ > 0 && !io_.stopped()) posted_done_.wait_for(lock, std::chrono::milliseconds(10));
}

void JobQueue::submit(Job job) {
  auto entry = std::make_shared<Entry>();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) throw Error(ErrorCode::kWorkerUnavailable, "the worker is shutting down");
    if (active_.count(job.id)) {
      throw_invalid("request_id", "a job with request_id \"" + job.id + "\" is already queued or running");
    }
    if (queue_.size() >= capacity_) {
      throw Error(ErrorCode::kQueueFull, "the job queue is full (" + std::to_string(capacity_) +
                                             " waiting); retry later or raise queue_capacity");
    }
    entry->key = {-job.priority, sequence_++};
    entry->job = std::move(job);
    queue_.emplace(entry->key, entry);
    active_[entry->job.id] = entry;
  }
  if (entry->job.timeout_seconds > 0) {
    entry->timer = std::make_unique<boost::asio::steady_timer>(
        io_, std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                 std::chrono::duration<double>(entry->job.timeout_seconds)));
    std::weak_ptr<Entry> weak = entry;
    entry->timer->async_wait([this, weak](const boost::system::error_code& ec) {
      auto e = weak.lock();
      if (ec || !e || e->answered) return;
      e->token.cancel(ErrorCode::kTimeoutError);
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (e->state == JobState::kQueued) queue_.erase(e->key);
      }
      nlohmann::json seconds = e->job.timeout_seconds;
      Error timeout(ErrorCode::kTimeoutError,
                    "the job did not finish within its timeout of " + seconds.dump() + " s");
      finish(e, &timeout, {});
    });
  }
  wake_.notify_one();
}

JobState JobQueue::cancel(const std::string& id) {
  std::shared_ptr<Entry> entry;
  JobState state;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = active_.find(id);
    if (it == active_.end()) {
      throw_invalid("target_request_id", "no queued or running job has request_id \"" + id + "\"");
    }
    entry = it->second;
    state = entry->state;
    if (state == JobState::kQueued) queue_.erase(entry->key);
  }
  entry->token.cancel(ErrorCode::kCancelled);
  Error cancelled(ErrorCode::kCancelled, state == JobState::kQueued ? "the job was cancelled before it started"
                                                                    : "the job was cancelled while running");
  finish(entry, &cancelled, {});
  return state;
}

std::size_t JobQueue::abandon(const Error& error) {
  std::vector<std::shared_ptr<Entry>> entries;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& [id, entry] : active_) entries.push_back(entry);
    queue_.clear();
  }
  for (const auto& entry : entries) {
    entry->token.cancel(error.code());
    finish(entry, &error, {});
  }
  return entries.size();
}

void JobQueue::finish(const std::shared_ptr<Entry>& entry, const Error* error, GenerationResult result) {
  if (entry->answered) return;
  entry->answered = true;
  if (entry->timer) entry->timer->cancel();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = active_.find(entry->job.id);
    if (it != active_.end() && it->second == entry) active_.erase(it);
  }
  if (error) {
    if (entry->job.on_failed) entry->job.on_failed(*error);
  } else if (entry->job.on_done) {
    entry->job.on_done(std::move(result));
  }
  check_idle();
}

void JobQueue::worker_loop() {
  for (;;) {
    std::shared_ptr<Entry> entry;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      auto first = queue_.begin();
      entry = first->second;
      queue_.erase(first);
      entry->state = JobState::kRunning;
      ++running_;
    }
    JobContext context(entry->token, [this, entry](const ProgressUpdate& update) {
      boost::asio::post(io_, [entry, update] {
        if (!entry->answered && entry->job.on_progress) entry->job.on_progress(update);
      });
    });
    std::optional<Error> error;
    GenerationResult data;
    try {
      context.check_cancelled();
      data = entry->job.work(context);
    } catch (const Error& e) {
      error = e;
    } catch (const std::bad_alloc&) {
      error = Error(ErrorCode::kOomError, "out of memory while running the job");
    } catch (const std::exception& e) {
      error = Error(ErrorCode::kInternalError, std::string("the job failed: ") + e.what());
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++posted_;
    }
    boost::asio::post(io_, [this, entry, error = std::move(error), data = std::move(data)]() mutable {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        --running_;
      }
      finish(entry, error ? &*error : nullptr, std::move(data));
      check_idle();
      std::lock_guard<std::mutex> lock(mutex_);
      --posted_;
      posted_done_.notify_all();
    });
  }
}

void JobQueue::when_idle(std::function<void()> done) {
  idle_waiters_.push_back(std::move(done));
  check_idle();
}

void JobQueue::check_idle() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!active_.empty() || running_ > 0) return;
  }
  auto waiters = std::move(idle_waiters_);
  idle_waiters_.clear();
  for (auto& w : waiters) w();
}

void JobQueue::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
    for (auto& [key, entry] : queue_) entry->token.cancel(ErrorCode::kCancelled);
    queue_.clear();
  }
  wake_.notify_all();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

nlohmann::json JobQueue::status() const {
  std::lock_guard<std::mutex> lock(mutex_);
  nlohmann::json queued = nlohmann::json::array(), running = nlohmann::json::array();
  for (const auto& [key, entry] : queue_) queued.push_back(entry->job.id);
  for (const auto& [id, entry] : active_) {
    if (entry->state == JobState::kRunning) running.push_back(id);
  }
  return {{"queued", queued},
          {"running", running},
          {"max_concurrent_tasks", threads_.size()},
          {"capacity", capacity_}};
}

}  // namespace workers
