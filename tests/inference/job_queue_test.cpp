#include "inference/managers/job_queue.h"

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>

#include <gtest/gtest.h>

#include "loop_fixture.h"

namespace workers {
namespace {

using namespace std::chrono_literals;
using testing_support::Loop;

// Records the outcome of one job; `wait()` blocks until it is answered.
struct Outcome {
  std::promise<void> answered;
  std::vector<int> steps;
  std::optional<ErrorCode> error;
  nlohmann::json data;
  void wait() { answered.get_future().wait(); }
};

Job make_job(const std::string& id, Outcome& outcome, std::function<GenerationResult(const JobContext&)> work,
             int priority = 0, double timeout = 0) {
  Job job;
  job.id = id;
  job.priority = priority;
  job.timeout_seconds = timeout;
  job.work = std::move(work);
  job.on_progress = [&outcome](const ProgressUpdate& u) { outcome.steps.push_back(u.step); };
  job.on_done = [&outcome](GenerationResult r) {
    outcome.data = r.data;
    outcome.answered.set_value();
  };
  job.on_failed = [&outcome](const Error& e) {
    outcome.error = e.code();
    outcome.answered.set_value();
  };
  return job;
}

GenerationResult three_steps(const JobContext& context) {
  for (int i = 1; i <= 3; ++i) context.report({i, 3, "denoising", nlohmann::json::object()});
  GenerationResult r;
  r.data = {{"ok", true}};
  return r;
}

// Blocks its compute thread until released, then finishes (or notices cancellation).
struct Gate {
  std::promise<void> started, release;
  std::shared_future<void> released{release.get_future().share()};
  std::function<GenerationResult(const JobContext&)> work() {
    return [this](const JobContext& context) {
      started.set_value();
      released.wait();
      context.check_cancelled();
      return GenerationResult{};
    };
  }
};

TEST(JobQueue, RunsAJobAndDeliversProgressInOrder) {
  Loop loop;
  JobQueue queue(loop.io, 1, 4);
  Outcome o;
  loop.run([&] { queue.submit(make_job("a", o, three_steps)); });
  o.wait();
  EXPECT_FALSE(o.error);
  EXPECT_EQ(o.data["ok"], true);
  EXPECT_EQ(o.steps, (std::vector<int>{1, 2, 3}));
}

TEST(JobQueue, HigherPriorityRunsFirstFifoAmongEquals) {
  Loop loop;
  JobQueue queue(loop.io, 1, 8);
  Gate gate;
  Outcome blocker, low, high, high2;
  std::mutex m;
  std::vector<std::string> order;
  auto recording = [&](std::string id) {
    return [&, id](const JobContext&) {
      std::lock_guard<std::mutex> lock(m);
      order.push_back(id);
      return GenerationResult{};
    };
  };
  loop.run([&] { queue.submit(make_job("blocker", blocker, gate.work())); });
  gate.started.get_future().wait();
  loop.run([&] {
    queue.submit(make_job("low", low, recording("low"), -1));
    queue.submit(make_job("high", high, recording("high"), 5));
    queue.submit(make_job("high2", high2, recording("high2"), 5));
  });
  EXPECT_EQ(loop.run([&] { return queue.status()["queued"]; }), nlohmann::json({"high", "high2", "low"}));
  gate.release.set_value();
  low.wait();
  EXPECT_EQ(order, (std::vector<std::string>{"high", "high2", "low"}));
}

TEST(JobQueue, FullQueueAndDuplicateIdsAreRefused) {
  Loop loop;
  JobQueue queue(loop.io, 1, 1);
  Gate gate;
  Outcome blocker, queued, extra;
  loop.run([&] { queue.submit(make_job("blocker", blocker, gate.work())); });
  gate.started.get_future().wait();
  loop.run([&] { queue.submit(make_job("q", queued, three_steps)); });
  try {
    loop.run([&] { queue.submit(make_job("x", extra, three_steps)); });
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kQueueFull);
  }
  try {
    loop.run([&] { queue.submit(make_job("blocker", extra, three_steps)); });
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.field(), "request_id");
  }
  gate.release.set_value();
  queued.wait();
}

TEST(JobQueue, CancellingAQueuedJobAnswersAtOnceAndNeverRunsIt) {
  Loop loop;
  JobQueue queue(loop.io, 1, 4);
  Gate gate;
  Outcome blocker, victim;
  std::atomic<bool> ran{false};
  loop.run([&] { queue.submit(make_job("blocker", blocker, gate.work())); });
  gate.started.get_future().wait();
  loop.run([&] {
    queue.submit(make_job("victim", victim, [&](const JobContext&) {
      ran = true;
      return GenerationResult{};
    }));
  });
  EXPECT_EQ(loop.run([&] { return queue.cancel("victim"); }), JobState::kQueued);
  victim.wait();
  EXPECT_EQ(victim.error, ErrorCode::kCancelled);
  gate.release.set_value();
  blocker.wait();
  EXPECT_FALSE(ran);
}

TEST(JobQueue, CancellingARunningJobAnswersAtOnceAndIdleWaitsForTheThread) {
  Loop loop;
  JobQueue queue(loop.io, 1, 4);
  Gate gate;
  Outcome running;
  loop.run([&] { queue.submit(make_job("r", running, gate.work())); });
  gate.started.get_future().wait();
  EXPECT_EQ(loop.run([&] { return queue.cancel("r"); }), JobState::kRunning);
  running.wait();
  EXPECT_EQ(running.error, ErrorCode::kCancelled);
  std::promise<void> idle;
  auto idle_future = idle.get_future();
  loop.run([&] { queue.when_idle([&] { idle.set_value(); }); });
  EXPECT_EQ(idle_future.wait_for(50ms), std::future_status::timeout);
  gate.release.set_value();
  idle_future.wait();
  EXPECT_THROW(loop.run([&] { return queue.cancel("r"); }), Error);
}

TEST(JobQueue, TimeoutAnswersTimeoutErrorAndCancelsTheToken) {
  Loop loop;
  JobQueue queue(loop.io, 1, 4);
  Outcome slow;
  std::promise<bool> saw_cancel;
  loop.run([&] {
    queue.submit(make_job(
        "slow", slow,
        [&](const JobContext& context) {
          for (int i = 0; i < 500 && !context.token().cancelled(); ++i) std::this_thread::sleep_for(10ms);
          saw_cancel.set_value(context.token().cancelled());
          context.check_cancelled();
          return GenerationResult{};
        },
        0, 0.05));
  });
  slow.wait();
  EXPECT_EQ(slow.error, ErrorCode::kTimeoutError);
  EXPECT_TRUE(saw_cancel.get_future().get());
}

TEST(JobQueue, ExceptionsBecomeErrorCodes) {
  Loop loop;
  JobQueue queue(loop.io, 2, 4);
  Outcome oom, internal, typed;
  loop.run([&] {
    queue.submit(make_job("oom", oom, [](const JobContext&) -> GenerationResult { throw std::bad_alloc(); }));
    queue.submit(make_job("internal", internal,
                          [](const JobContext&) -> GenerationResult { throw std::runtime_error("boom"); }));
    queue.submit(make_job("typed", typed, [](const JobContext&) -> GenerationResult {
      throw Error(ErrorCode::kModelLoadError, "bad file");
    }));
  });
  oom.wait();
  internal.wait();
  typed.wait();
  EXPECT_EQ(oom.error, ErrorCode::kOomError);
  EXPECT_EQ(internal.error, ErrorCode::kInternalError);
  EXPECT_EQ(typed.error, ErrorCode::kModelLoadError);
}

TEST(JobQueue, RunsUpToMaxConcurrentJobsAtOnce) {
  Loop loop;
  JobQueue queue(loop.io, 2, 4);
  Gate a, b;
  Outcome oa, ob;
  loop.run([&] {
    queue.submit(make_job("a", oa, a.work()));
    queue.submit(make_job("b", ob, b.work()));
  });
  a.started.get_future().wait();
  b.started.get_future().wait();
  EXPECT_EQ(loop.run([&] { return queue.status()["running"].size(); }), 2u);
  a.release.set_value();
  b.release.set_value();
  oa.wait();
  ob.wait();
}

TEST(JobQueue, SubmitAfterStopIsRefused) {
  Loop loop;
  JobQueue queue(loop.io, 1, 4);
  queue.stop();
  Outcome o;
  try {
    loop.run([&] { queue.submit(make_job("late", o, three_steps)); });
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kWorkerUnavailable);
  }
}

TEST(JobQueue, AbandonAnswersQueuedAndRunningJobsAndStopsTheRunningOne) {
  Loop loop;
  JobQueue queue(loop.io, 1, 8);
  Gate gate;
  Outcome running, queued1, queued2;
  loop.run([&] {
    queue.submit(make_job("run", running, gate.work()));
    queue.submit(make_job("q1", queued1, three_steps));
    queue.submit(make_job("q2", queued2, three_steps));
  });
  gate.started.get_future().wait();
  const auto answered = loop.run([&] {
    return queue.abandon(Error(ErrorCode::kWorkerUnavailable, "shutting down"));
  });
  EXPECT_EQ(answered, 3u);
  for (Outcome* o : {&running, &queued1, &queued2}) {
    o->wait();
    EXPECT_EQ(o->error, ErrorCode::kWorkerUnavailable);
  }
  EXPECT_TRUE(queued1.steps.empty());  // never started
  // The running job's token is cancelled: once released it stops, and the queue goes idle.
  std::promise<void> idle;
  loop.run([&] { queue.when_idle([&] { idle.set_value(); }); });
  gate.release.set_value();
  EXPECT_EQ(idle.get_future().wait_for(5s), std::future_status::ready);
}

}  // namespace
}  // namespace workers
