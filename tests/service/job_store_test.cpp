// JobStore against a real redis-server (tests/service/redis_server.h): the queue (enqueue, delivery,
// reclaiming, dead letters), locks, statuses, cancellation and the worker registry.
#include "service/job_store.h"

#include <algorithm>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "service/redis_client.h"
#include "service/redis_server.h"
#include "service/thrown_by.h"

namespace workers {
namespace {

using testing_support::RedisServer;
using testing_support::thrown_by;

void sleep_seconds(double seconds) {
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
}

class JobStoreTest : public ::testing::Test {
 protected:
  JobStoreTest() : client_(parse_redis_url(server_.url())) {
    config_.prefix = "test";
    config_.claim_idle_seconds = 0.3;
    config_.block_seconds = 0.05;
    config_.job_ttl_seconds = 60;
    config_.worker_ttl_seconds = 30;
  }

  const nlohmann::json payload_ = {{"prompt", "a cat"},
                                   {"job_type", "sdxl_image_fast"},
                                   {"callback_url", "http://127.0.0.1:9/cb"}};
  RedisServer server_;
  RedisClient client_;
  RedisConfig config_;
};

TEST_F(JobStoreTest, EnsureGroupCreatesTheStreamAndGroupOnce) {
  JobStore store(client_, config_);
  EXPECT_EQ(store.stream(), "test:jobs");
  EXPECT_EQ(store.dead_stream(), "test:jobs:dead");
  EXPECT_EQ(store.group(), "test-workers");
  store.ensure_group();
  store.ensure_group();
  EXPECT_EQ(client_.command({"TYPE", "test:jobs"}).str(), "stream");
  RedisReply groups = client_.command({"XINFO", "GROUPS", "test:jobs"});
  ASSERT_EQ(groups.elements.size(), 1u);
  EXPECT_EQ(groups.elements[0].elements[1].str(), "test-workers");
}

TEST_F(JobStoreTest, EnqueueWritesTheStatusAndRefusesAKnownJob) {
  JobStore store(client_, config_);
  store.ensure_group();
  std::string entry = store.enqueue("j1", payload_);
  EXPECT_NE(entry.find('-'), std::string::npos) << entry;
  EXPECT_EQ(client_.command({"XLEN", "test:jobs"}).integer, 1);

  auto job = store.get("j1");
  ASSERT_TRUE(job.has_value());
  EXPECT_EQ((*job)["job_id"], "j1");
  EXPECT_EQ((*job)["state"], "queued");
  EXPECT_EQ((*job)["request"], payload_);
  EXPECT_EQ((*job)["job_type"], "sdxl_image_fast");
  EXPECT_EQ((*job)["callback_url"], "http://127.0.0.1:9/cb");
  EXPECT_EQ((*job)["attempts"], 0);
  EXPECT_EQ((*job)["cancel"], false);
  std::string created = (*job)["created_at"];
  EXPECT_EQ(created.size(), 24u) << created;  // 2026-11-24T16:20:00.123Z
  EXPECT_EQ(created.back(), 'Z');
  long long ttl = client_.command({"TTL", "test:job:j1"}).integer;
  EXPECT_GT(ttl, 0);
  EXPECT_LE(ttl, 60);

  Error again = thrown_by([&] { store.enqueue("j1", payload_); });
  EXPECT_EQ(again.code(), ErrorCode::kInvalidRequest);
  EXPECT_EQ(again.field(), "job_id");
  EXPECT_STREQ(again.what(), "job_id: job j1 is already known (state queued)");
  EXPECT_EQ(client_.command({"XLEN", "test:jobs"}).integer, 1);

  store.update("j1", {{"state", "completed"}});
  EXPECT_STREQ(thrown_by([&] { store.enqueue("j1", payload_); }).what(),
               "job_id: job j1 is already known (state completed)");
}

TEST_F(JobStoreTest, ConcurrentEnqueuesOfOneIdQueueItOnce) {
  JobStore store(client_, config_);
  store.ensure_group();
  std::atomic<int> accepted{0};
  auto enqueue_all = [&] {
    RedisClient client(parse_redis_url(server_.url()));
    JobStore mine(client, config_);
    for (int i = 0; i < 40; ++i) {
      try {
        mine.enqueue("job-" + std::to_string(i), payload_);
        ++accepted;
      } catch (const Error& error) {
        EXPECT_EQ(error.code(), ErrorCode::kInvalidRequest);
      }
    }
  };
  std::thread first(enqueue_all);
  std::thread second(enqueue_all);
  first.join();
  second.join();
  EXPECT_EQ(accepted.load(), 40);
  EXPECT_EQ(client_.command({"XLEN", "test:jobs"}).integer, 40);
}

TEST_F(JobStoreTest, NextDeliversAJobToOneConsumer) {
  JobStore store(client_, config_);
  store.ensure_group();
  EXPECT_FALSE(store.next("a").has_value());
  std::string entry = store.enqueue("j1", payload_);

  auto job = store.next("a");
  ASSERT_TRUE(job.has_value());
  EXPECT_EQ(job->entry_id, entry);
  EXPECT_EQ(job->job_id, "j1");
  EXPECT_EQ(job->payload, payload_);
  EXPECT_EQ(nlohmann::json::parse(job->payload_text), payload_);
  EXPECT_FALSE(job->reclaimed);

  EXPECT_FALSE(store.next("b").has_value());
  EXPECT_FALSE(store.next("a").has_value());
  EXPECT_EQ(store.queue_status()["pending"], 1);
}

TEST_F(JobStoreTest, NextHandsAnUnparsablePayloadOverAsNull) {
  JobStore store(client_, config_);
  store.ensure_group();
  client_.command({"XADD", "test:jobs", "*", "job_id", "raw", "payload", "{not json"});
  auto job = store.next("a");
  ASSERT_TRUE(job.has_value());
  EXPECT_EQ(job->job_id, "raw");
  EXPECT_TRUE(job->payload.is_null());
  EXPECT_EQ(job->payload_text, "{not json");
}

TEST_F(JobStoreTest, NextReclaimsAJobWhoseConsumerStoppedRefreshing) {
  JobStore store(client_, config_);
  store.ensure_group();
  store.enqueue("j1", payload_);
  auto first = store.next("a");
  ASSERT_TRUE(first.has_value());

  sleep_seconds(config_.claim_idle_seconds + 0.1);
  auto taken = store.next("b");
  ASSERT_TRUE(taken.has_value());
  EXPECT_TRUE(taken->reclaimed);
  EXPECT_EQ(taken->entry_id, first->entry_id);
  EXPECT_EQ(taken->job_id, "j1");
  EXPECT_EQ(taken->payload, payload_);
  // Claimed just now: not idle for anyone else.
  EXPECT_FALSE(store.next("a").has_value());
  RedisReply pending = client_.command({"XPENDING", "test:jobs", "test-workers", "-", "+", "10"});
  ASSERT_EQ(pending.elements.size(), 1u);
  EXPECT_EQ(pending.elements[0].elements[1].str(), "b");
}

TEST_F(JobStoreTest, RefreshKeepsARunningJobFromBeingReclaimed) {
  config_.claim_idle_seconds = 1.0;
  JobStore store(client_, config_);
  store.ensure_group();
  store.enqueue("j1", payload_);
  auto job = store.next("a");
  ASSERT_TRUE(job.has_value());
  ASSERT_TRUE(store.lock("j1", "a"));

  sleep_seconds(0.6);
  store.refresh(*job, "a");
  long long lock_ms = client_.command({"PTTL", "test:lock:j1"}).integer;
  EXPECT_GT(lock_ms, 800);
  sleep_seconds(0.6);  // 1.2 s since delivery, 0.6 s since the refresh
  EXPECT_FALSE(store.next("b").has_value());
  EXPECT_EQ(client_.command({"GET", "test:lock:j1"}).str(), "a");

  sleep_seconds(0.5);  // no refresh for 1.1 s
  auto taken = store.next("b");
  ASSERT_TRUE(taken.has_value());
  EXPECT_TRUE(taken->reclaimed);
  EXPECT_EQ(taken->job_id, "j1");
}

TEST_F(JobStoreTest, NextSkipsPendingEntriesDeletedFromTheStream) {
  JobStore store(client_, config_);
  store.ensure_group();
  std::string gone = store.enqueue("j1", payload_);
  store.enqueue("j2", payload_);
  ASSERT_TRUE(store.next("a").has_value());
  client_.command({"XDEL", "test:jobs", gone});

  sleep_seconds(config_.claim_idle_seconds + 0.1);
  auto job = store.next("b");
  ASSERT_TRUE(job.has_value());
  EXPECT_EQ(job->job_id, "j2");
  EXPECT_FALSE(job->reclaimed);
  RedisReply pending = client_.command({"XPENDING", "test:jobs", "test-workers", "-", "+", "10"});
  ASSERT_EQ(pending.elements.size(), 1u);  // the deleted entry left the pending list
  EXPECT_EQ(pending.elements[0].elements[0].str(), job->entry_id);
}

TEST_F(JobStoreTest, NextRecreatesAGroupTheServerLost) {
  JobStore store(client_, config_);
  store.enqueue("j1", payload_);  // the stream exists, the group does not
  auto job = store.next("a");
  ASSERT_TRUE(job.has_value());
  EXPECT_EQ(job->job_id, "j1");
}

TEST_F(JobStoreTest, NextBlocksLongerThanTheClientTimeout) {
  RedisClient client(parse_redis_url(server_.url()), 0.2);
  config_.block_seconds = 0.5;
  JobStore store(client, config_);
  store.ensure_group();
  auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(store.next("a").has_value());
  double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GE(waited, 0.45);
  EXPECT_DOUBLE_EQ(client.timeout_seconds(), 0.2);
}

TEST_F(JobStoreTest, LockIsHeldByOneConsumerUntilUnlockedOrExpired) {
  JobStore store(client_, config_);
  EXPECT_TRUE(store.lock("j1", "a"));
  EXPECT_FALSE(store.lock("j1", "b"));
  EXPECT_TRUE(store.lock("j1", "a"));  // already its own

  store.unlock("j1", "b");  // not the holder: no effect
  EXPECT_EQ(client_.command({"GET", "test:lock:j1"}).str(), "a");
  store.unlock("j1", "a");
  EXPECT_TRUE(client_.command({"GET", "test:lock:j1"}).is_nil());

  EXPECT_TRUE(store.lock("j1", "b"));
  long long ms = client_.command({"PTTL", "test:lock:j1"}).integer;
  EXPECT_GT(ms, 0);
  EXPECT_LE(ms, 300);
  sleep_seconds(config_.claim_idle_seconds + 0.1);
  EXPECT_TRUE(store.lock("j1", "a"));  // b's lock expired
}

TEST_F(JobStoreTest, CountAttemptCountsEveryDelivery) {
  JobStore store(client_, config_);
  store.enqueue("j1", payload_);
  EXPECT_EQ(store.count_attempt("j1"), 1);
  EXPECT_EQ(store.count_attempt("j1"), 2);
  EXPECT_EQ(store.get("j1").value()["attempts"], 2);
}

TEST_F(JobStoreTest, AckRemovesTheEntryFromPendingAndTheStream) {
  JobStore store(client_, config_);
  store.ensure_group();
  store.enqueue("j1", payload_);
  auto job = store.next("a");
  ASSERT_TRUE(job.has_value());
  EXPECT_EQ(store.queue_status()["pending"], 1);
  store.ack(job->entry_id);
  auto status = store.queue_status();
  EXPECT_EQ(status["pending"], 0);
  EXPECT_EQ(status["length"], 0);
  sleep_seconds(config_.claim_idle_seconds + 0.1);
  EXPECT_FALSE(store.next("b").has_value());
}

TEST_F(JobStoreTest, DeadLetterRecordsTheJobAndAcksIt) {
  JobStore store(client_, config_);
  store.ensure_group();
  store.enqueue("j1", payload_);
  auto job = store.next("a");
  ASSERT_TRUE(job.has_value());
  store.dead_letter(*job, "model exploded", 3);

  RedisReply dead = client_.command({"XRANGE", "test:jobs:dead", "-", "+"});
  ASSERT_EQ(dead.elements.size(), 1u);
  nlohmann::json fields;
  const auto& values = dead.elements[0].elements[1].elements;
  for (std::size_t i = 0; i + 1 < values.size(); i += 2)
    fields[values[i].str()] = values[i + 1].str();
  EXPECT_EQ(fields["job_id"], "j1");
  EXPECT_EQ(nlohmann::json::parse(fields["payload"].get<std::string>()), payload_);
  EXPECT_EQ(fields["reason"], "model exploded");
  EXPECT_EQ(fields["attempts"], "3");
  EXPECT_EQ(fields["failed_at"].get<std::string>().back(), 'Z');

  auto status = store.queue_status();
  EXPECT_EQ(status["dead_letters"], 1);
  EXPECT_EQ(status["pending"], 0);
  EXPECT_EQ(status["length"], 0);
}

TEST_F(JobStoreTest, UpdateAndGetRoundTripJsonFieldsAndSetTheTtl) {
  JobStore store(client_, config_);
  EXPECT_FALSE(store.get("j1").has_value());
  store.enqueue("j1", payload_);
  client_.command({"PERSIST", "test:job:j1"});
  store.update("j1", {{"state", "processing"},
                      {"worker_id", "w1"},
                      {"progress", {{"step", 3}, {"total", 10}}},
                      {"result", {{"images", {"a.png"}}}},
                      {"error", "not json at all"},
                      {"callback", {{"delivered", true}}}});
  long long ttl = client_.command({"TTL", "test:job:j1"}).integer;
  EXPECT_GT(ttl, 0);
  EXPECT_LE(ttl, 60);

  auto job = store.get("j1");
  ASSERT_TRUE(job.has_value());
  EXPECT_EQ((*job)["state"], "processing");
  EXPECT_EQ((*job)["worker_id"], "w1");
  EXPECT_EQ((*job)["progress"], (nlohmann::json{{"step", 3}, {"total", 10}}));
  EXPECT_EQ((*job)["result"]["images"][0], "a.png");
  EXPECT_EQ((*job)["error"], "not json at all");
  EXPECT_EQ((*job)["callback"]["delivered"], true);
  EXPECT_EQ((*job)["request"], payload_);
  EXPECT_TRUE((*job)["updated_at"].is_string());
  EXPECT_EQ(client_.command({"HGET", "test:job:j1", "progress"}).str(), R"({"step":3,"total":10})");
}

TEST_F(JobStoreTest, CancelIsRequestedOnKnownJobsOnly) {
  JobStore store(client_, config_);
  EXPECT_FALSE(store.request_cancel("ghost"));
  EXPECT_FALSE(store.get("ghost").has_value());
  EXPECT_FALSE(store.cancel_requested("ghost"));

  store.enqueue("j1", payload_);
  EXPECT_FALSE(store.cancel_requested("j1"));
  EXPECT_TRUE(store.request_cancel("j1"));
  EXPECT_TRUE(store.cancel_requested("j1"));
  EXPECT_EQ(store.get("j1").value()["cancel"], true);
}

TEST_F(JobStoreTest, QueueStatusReportsLengthPendingConsumersAndDeadLetters) {
  JobStore store(client_, config_);
  auto empty = store.queue_status();  // no stream yet
  EXPECT_EQ(empty["length"], 0);
  EXPECT_EQ(empty["pending"], 0);
  EXPECT_EQ(empty["consumers"], 0);
  EXPECT_EQ(empty["dead_letters"], 0);

  store.ensure_group();
  store.enqueue("j1", payload_);
  store.enqueue("j2", payload_);
  ASSERT_TRUE(store.next("a").has_value());
  auto status = store.queue_status();
  EXPECT_EQ(status["stream"], "test:jobs");
  EXPECT_EQ(status["group"], "test-workers");
  EXPECT_EQ(status["length"], 2);
  EXPECT_EQ(status["pending"], 1);
  EXPECT_EQ(status["consumers"], 1);
  EXPECT_EQ(status["dead_letters"], 0);
}

TEST_F(JobStoreTest, RegistryListsLiveWorkersSortedById) {
  JobStore store(client_, config_);
  EXPECT_TRUE(store.live_workers().empty());
  store.register_worker("w2", {{"worker_id", "w2"}, {"host", "b"}});
  store.register_worker("w1", {{"worker_id", "w1"}, {"host", "a"}});
  auto live = store.live_workers();
  ASSERT_EQ(live.size(), 2u);
  EXPECT_EQ(live[0]["worker_id"], "w1");
  EXPECT_EQ(live[0]["host"], "a");
  EXPECT_EQ(live[1]["worker_id"], "w2");
  long long ttl = store.worker_ttl("w1");
  EXPECT_GE(ttl, 1);
  EXPECT_LE(ttl, 30);

  store.unregister_worker("w1");
  live = store.live_workers();
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0]["worker_id"], "w2");
  EXPECT_EQ(store.worker_ttl("w1"), -2);
  EXPECT_EQ(client_.command({"SISMEMBER", "test:workers", "w1"}).integer, 0);
}

TEST_F(JobStoreTest, RegistrationsExpireWithoutAHeartbeat) {
  config_.worker_ttl_seconds = 0.5;
  JobStore store(client_, config_);
  store.register_worker("w1", {{"worker_id", "w1"}});
  ASSERT_EQ(store.live_workers().size(), 1u);
  sleep_seconds(0.7);
  EXPECT_TRUE(store.live_workers().empty());
  EXPECT_EQ(store.worker_ttl("w1"), -2);
  EXPECT_EQ(client_.command({"SCARD", "test:workers"}).integer, 0);

  store.register_worker("w1", {{"worker_id", "w1"}});  // the heartbeat after a pause
  EXPECT_EQ(store.live_workers().size(), 1u);
}

TEST_F(JobStoreTest, PruneRemovesOnlyConsumersOfGoneWorkersWithNothingPending) {
  config_.worker_ttl_seconds = 0.2;
  JobStore store(client_, config_);
  store.ensure_group();
  store.enqueue("j1", {{"prompt", "a"}});
  store.enqueue("j2", {{"prompt", "b"}});
  store.enqueue("j3", {{"prompt", "c"}});
  auto gone = store.next("gone");      // its worker died after finishing the job
  store.ack(gone->entry_id);
  ASSERT_TRUE(store.next("holding").has_value());  // died holding a job: kept until it is claimed
  auto alive = store.next("alive");   // registered
  store.ack(alive->entry_id);
  store.register_worker("alive", {{"worker_id", "alive"}});
  EXPECT_TRUE(store.prune_consumers().empty());  // nobody idle long enough yet
  sleep_seconds(0.3);
  store.register_worker("alive", {{"worker_id", "alive"}});  // its heartbeat
  EXPECT_EQ(store.prune_consumers(), std::vector<std::string>{"gone"});
  std::vector<std::string> left;
  for (const auto& c : client_.command({"XINFO", "CONSUMERS", store.stream(), store.group()}).elements) {
    left.push_back(c.elements[1].str());
  }
  std::sort(left.begin(), left.end());
  EXPECT_EQ(left, (std::vector<std::string>{"alive", "holding"}));
}

}  // namespace
}  // namespace workers
