// JobQueue: the bounded, prioritised queue of generation jobs and the compute threads that run
// them (max_concurrent_tasks). Results, progress and timeouts are delivered on the io_context,
// so callers never see a compute thread.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "inference/managers/pipeline_manager.h"
#include "utilities/error.h"
#include "utilities/job_context.h"

namespace workers {

struct Job {
  std::string id;
  int priority = 0;  // higher first; FIFO among equals
  double timeout_seconds = 0;  // counted from acceptance; 0: none
  // Runs on a compute thread; returns the result or throws workers::Error.
  std::function<GenerationResult(const JobContext&)> work;
  // Delivered on the io_context thread, each job gets exactly one of on_done / on_failed.
  std::function<void(const ProgressUpdate&)> on_progress;
  std::function<void(GenerationResult)> on_done;
  std::function<void(const Error&)> on_failed;
};

enum class JobState { kQueued, kRunning };

class JobQueue {
 public:
  JobQueue(boost::asio::io_context& io, int max_concurrent, std::size_t capacity);
  // Stops, then waits until completions already posted to the io_context have run (or the
  // io_context has stopped), so none of them outlives the queue.
  ~JobQueue();

  // Throws Error(QUEUE_FULL) past capacity, Error(INVALID_REQUEST, "request_id") for an id
  // already queued or running, Error(WORKER_UNAVAILABLE) after stop(). Call on the io thread.
  void submit(Job job);
  // Cancels a queued or running job (answered at once with CANCELLED); returns its state before,
  // or throws Error(INVALID_REQUEST) when no such job is active. Call on the io thread.
  JobState cancel(const std::string& id);
  // Answers every queued and running job with `error` at once and cancels their tokens (a
  // running job stops at its next cancellation check); returns how many were answered. Call on
  // the io thread (a shutdown past its grace period).
  std::size_t abandon(const Error& error);
  // Calls `done` on the io thread once no job is queued or running.
  void when_idle(std::function<void()> done);
  // Cancels whatever is still queued and joins the compute threads (blocks; not on the io thread).
  void stop();

  nlohmann::json status() const;

 private:
  struct Entry;
  void worker_loop();
  void finish(const std::shared_ptr<Entry>& entry, const Error* error, GenerationResult result);
  void check_idle();

  boost::asio::io_context& io_;
  const std::size_t capacity_;
  // Guarded by mutex_: queue, active set, stop flag (touched by io and compute threads).
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::multimap<std::pair<int, unsigned long long>, std::shared_ptr<Entry>> queue_;
  std::map<std::string, std::shared_ptr<Entry>> active_;
  unsigned long long sequence_ = 0;
  int running_ = 0;  // compute threads inside work(), cancelled jobs included
  int posted_ = 0;   // completions posted to io_ that have not run yet (they use `this`)
  std::condition_variable posted_done_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
  std::vector<std::function<void()>> idle_waiters_;  // io thread only
};

}  // namespace workers
