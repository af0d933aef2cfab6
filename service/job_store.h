// JobStore: the Redis layout of the shared job queue (one stream with a consumer group), the job
// status hashes, idempotency locks, the dead-letter stream and the worker registry. Every method
// is one or a few Redis commands on the caller's RedisClient (one per thread).
//
// Keys (prefix "sdxl" by default, workers.instructors.communication.redis.prefix):
//   <p>:jobs            stream: entries {job_id, payload} (payload = the JSON request body)
//   <p>:jobs:dead       stream: entries {job_id, payload, reason, attempts, failed_at}
//   <p>:job:<id>        hash: job_id, state (queued|processing|completed|failed|cancelled), progress,
//                       request, result, error, worker_id, attempts, callback, cancel, created_at,
//                       updated_at, job_type, callback_url; expires job_ttl_seconds after the last write
//   <p>:lock:<id>       string: the consumer generating the job (SET NX PX, refreshed while it runs)
//   <p>:worker:<id>     string: the worker's registration JSON, expires worker_ttl_seconds after the
//                       last heartbeat
//   <p>:workers         set: ids of registered workers (expired ones are dropped when listed)
// The consumer group is "<p>-workers"; consumers are worker ids.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "service/redis_client.h"
#include "service/service_config.h"

namespace workers {

struct QueuedJob {
  std::string entry_id;  // the stream entry ("1700000000000-0")
  std::string job_id;
  nlohmann::json payload;        // the request body as enqueued (parsed; null when unparsable)
  std::string payload_text;      // as stored
  bool reclaimed = false;        // taken over from another consumer (XAUTOCLAIM)
};

class JobStore {
 public:
  JobStore(RedisClient& redis, RedisConfig config);

  const std::string& stream() const { return stream_; }
  const std::string& dead_stream() const { return dead_stream_; }
  const std::string& group() const { return group_; }

  // XGROUP CREATE <stream> <group> 0 MKSTREAM; an existing group is fine.
  void ensure_group();

  // Writes the status hash (state queued, request, created_at, job_type, callback_url) and XADDs
  // {job_id, payload}. A job_id whose hash already exists is refused: Error(INVALID_REQUEST,
  // field "job_id", "job_id: job X is already known (state S)"). Returns the stream entry id.
  std::string enqueue(const std::string& job_id, const nlohmann::json& payload);

  // The next job for `consumer`: first an entry another consumer has held for at least
  // claim_idle_seconds (XAUTOCLAIM ... COUNT 1), else a new entry (XREADGROUP ... COUNT 1 BLOCK
  // block_seconds ... >). nullopt when none came within block_seconds. Deleted entries that
  // XAUTOCLAIM reports are acknowledged and skipped.
  std::optional<QueuedJob> next(const std::string& consumer);

  // HINCRBY attempts 1 on the job's hash; returns the new count (this delivery included).
  int count_attempt(const std::string& job_id);

  // Idempotency lock: SET <p>:lock:<id> consumer NX PX lock_ms (lock_ms = claim_idle_seconds).
  // True when this consumer holds it now (also when it already held it).
  bool lock(const std::string& job_id, const std::string& consumer);
  // While a job runs: PEXPIRE the lock and XCLAIM the entry to `consumer` again (JUSTID), which
  // resets its idle time so no other worker claims a job whose worker is alive.
  void refresh(const QueuedJob& job, const std::string& consumer);
  // Deletes the lock only if `consumer` holds it (one Lua script, atomic).
  void unlock(const std::string& job_id, const std::string& consumer);

  // XACK the entry (and XDEL it: an acknowledged job is done with the stream).
  void ack(const std::string& entry_id);
  // XADD to the dead-letter stream {job_id, payload, reason, attempts, failed_at}, then ack().
  void dead_letter(const QueuedJob& job, const std::string& reason, int attempts);

  // HSET the fields (strings as they are, other JSON values dumped) + updated_at, then EXPIRE the
  // hash job_ttl_seconds.
  void update(const std::string& job_id, const nlohmann::json& fields);
  // The job's hash as JSON: JSON-valued fields (progress, request, result, error, callback,
  // warnings, last_error, processing_time) parsed,
  // attempts as a number, cancel as a bool; nullopt when the job is unknown or expired.
  std::optional<nlohmann::json> get(const std::string& job_id);
  // Sets cancel=1 on a known job; false when the job is unknown.
  bool request_cancel(const std::string& job_id);
  bool cancel_requested(const std::string& job_id);

  // {stream, length, pending, consumers, dead_letters, group}
  nlohmann::json queue_status();

  // Registry: SET <p>:worker:<id> info EX worker_ttl_seconds + SADD <p>:workers id.
  void register_worker(const std::string& worker_id, const nlohmann::json& info);
  // DEL + SREM.
  void unregister_worker(const std::string& worker_id);
  // Every registered worker whose key has not expired (expired ids are SREMed), sorted by id.
  std::vector<nlohmann::json> live_workers();
  // The TTL left on a worker's key in seconds (-2: not registered).
  long long worker_ttl(const std::string& worker_id);
  // Removes from the consumer group the consumers of workers that are gone: no live registration,
  // nothing pending (XGROUP DELCONSUMER would drop pending entries), idle for at least
  // worker_ttl_seconds. Returns their names.
  std::vector<std::string> prune_consumers();

 private:
  std::string job_key(const std::string& job_id) const;
  std::string lock_key(const std::string& job_id) const;
  std::string worker_key(const std::string& worker_id) const;

  RedisClient& redis_;
  RedisConfig config_;
  std::string stream_;
  std::string dead_stream_;
  std::string group_;
};

}  // namespace workers
