// JobStore: the queue stream and its consumer group, status hashes, locks, the dead-letter stream
// and the worker registry as Redis commands (the layout is in service/job_store.h).
#include "service/job_store.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "communication/envelope.h"
#include "utilities/strings.h"

namespace workers {

namespace {

// Creates the hash and queues the entry in one step, so two enqueues of one id cannot both win.
// KEYS: job hash, stream. ARGV: job_id, payload, created_at, job_type, callback_url, ttl ms.
constexpr const char* kEnqueueScript = R"lua(
if redis.call('EXISTS', KEYS[1]) == 1 then
  local state = redis.call('HGET', KEYS[1], 'state')
  return {0, state or 'unknown'}
end
redis.call('HSET', KEYS[1], 'job_id', ARGV[1], 'state', 'queued', 'request', ARGV[2],
           'created_at', ARGV[3], 'updated_at', ARGV[3], 'job_type', ARGV[4],
           'callback_url', ARGV[5], 'attempts', '0', 'cancel', '0')
redis.call('PEXPIRE', KEYS[1], ARGV[6])
local id = redis.call('XADD', KEYS[2], '*', 'job_id', ARGV[1], 'payload', ARGV[2])
return {1, id}
)lua";

// Takes the lock, or extends it when `consumer` already holds it. KEYS: lock. ARGV: consumer, ms.
constexpr const char* kLockScript = R"lua(
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
)lua";

constexpr const char* kUnlockScript = R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end
)lua";

// Drops ids whose registration expired, unless the worker registered again since they were read.
// KEYS: the registry set. ARGV: the key prefix of registrations, then ids.
constexpr const char* kDropExpiredScript = R"lua(
for i = 2, #ARGV do
  if redis.call('EXISTS', ARGV[1] .. ARGV[i]) == 0 then redis.call('SREM', KEYS[1], ARGV[i]) end
end
return 0
)lua";

// KEYS: job hash. ARGV: updated_at.
constexpr const char* kCancelScript = R"lua(
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'cancel', '1', 'updated_at', ARGV[1])
return 1
)lua";

std::string milliseconds(double seconds) {
  return std::to_string(std::max<long long>(1, std::llround(seconds * 1000.0)));
}

bool is_error_kind(const RedisReply& reply, const char* kind) {
  return reply.is_error() && starts_with(reply.text, kind);
}

[[noreturn]] void fail(const RedisReply& reply, const std::string& command) {
  throw Error(ErrorCode::kInternalError, "redis: " + reply.text + " (" + command + ")");
}

// [id, [field, value, ...]] -> a job; nullopt for an entry that was deleted (nil fields).
std::optional<QueuedJob> parse_entry(const RedisReply& entry) {
  if (entry.type != RedisReply::Type::kArray || entry.elements.size() < 2 ||
      entry.elements[1].type != RedisReply::Type::kArray) {
    return std::nullopt;
  }
  QueuedJob job;
  job.entry_id = entry.elements[0].str();
  const auto& fields = entry.elements[1].elements;
  for (std::size_t i = 0; i + 1 < fields.size(); i += 2) {
    if (fields[i].str() == "job_id") job.job_id = fields[i + 1].str();
    if (fields[i].str() == "payload") job.payload_text = fields[i + 1].str();
  }
  job.payload = nlohmann::json::parse(job.payload_text, nullptr, false);
  if (job.payload.is_discarded()) job.payload = nullptr;
  return job;
}

std::string string_field(const nlohmann::json& payload, const char* key) {
  if (!payload.is_object()) return {};
  auto it = payload.find(key);
  return it != payload.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// The callback target a request names: callback_url, or callback.url.
std::string callback_url_of(const nlohmann::json& payload) {
  std::string url = string_field(payload, "callback_url");
  if (url.empty() && payload.is_object()) {
    auto it = payload.find("callback");
    if (it != payload.end() && it->is_object()) url = string_field(*it, "url");
  }
  return url;
}

bool is_json_field(const std::string& name) {
  return name == "progress" || name == "request" || name == "result" || name == "error" ||
         name == "callback" || name == "warnings" || name == "last_error" || name == "processing_time";
}

// Raises the connection's read timeout above one blocking wait, and restores it.
class BlockingTimeout {
 public:
  BlockingTimeout(RedisClient& redis, double block_seconds)
      : redis_(redis), previous_(redis.timeout_seconds()) {
    double needed = block_seconds + 2.0;
    if (previous_ < needed) {
      redis_.set_timeout(needed);
      changed_ = true;
    }
  }
  ~BlockingTimeout() {
    if (changed_) redis_.set_timeout(previous_);
  }
  BlockingTimeout(const BlockingTimeout&) = delete;
  BlockingTimeout& operator=(const BlockingTimeout&) = delete;

 private:
  RedisClient& redis_;
  double previous_;
  bool changed_ = false;
};

}  // namespace

JobStore::JobStore(RedisClient& redis, RedisConfig config)
    : redis_(redis),
      config_(std::move(config)),
      stream_(config_.prefix + ":jobs"),
      dead_stream_(config_.prefix + ":jobs:dead"),
      group_(config_.prefix + "-workers") {}

std::string JobStore::job_key(const std::string& job_id) const {
  return config_.prefix + ":job:" + job_id;
}
std::string JobStore::lock_key(const std::string& job_id) const {
  return config_.prefix + ":lock:" + job_id;
}
std::string JobStore::worker_key(const std::string& worker_id) const {
  return config_.prefix + ":worker:" + worker_id;
}

void JobStore::ensure_group() {
  RedisReply reply = redis_.try_command({"XGROUP", "CREATE", stream_, group_, "0", "MKSTREAM"});
  if (reply.is_error() && !is_error_kind(reply, "BUSYGROUP")) fail(reply, "XGROUP");
}

std::string JobStore::enqueue(const std::string& job_id, const nlohmann::json& payload) {
  if (job_id.empty())
    throw Error(ErrorCode::kInvalidRequest, "job_id: must not be empty", "job_id");
  RedisReply reply =
      redis_.command({"EVAL", kEnqueueScript, "2", job_key(job_id), stream_, job_id, payload.dump(),
                      utc_timestamp(), string_field(payload, "job_type"), callback_url_of(payload),
                      milliseconds(config_.job_ttl_seconds)});
  if (reply.elements.size() != 2) {
    throw Error(ErrorCode::kInternalError, "redis: unexpected reply to the enqueue script");
  }
  if (reply.elements[0].integer == 0) {
    throw Error(
        ErrorCode::kInvalidRequest,
        "job_id: job " + job_id + " is already known (state " + reply.elements[1].str() + ")",
        "job_id");
  }
  return reply.elements[1].str();
}

std::optional<QueuedJob> JobStore::next(const std::string& consumer) {
  // First a job whose consumer stopped refreshing it. The cursor walks the whole pending list
  // (about one entry per worker), skipping entries deleted from the stream meanwhile.
  std::string cursor = "0-0";
  for (bool retried = false;;) {
    RedisReply reply =
        redis_.try_command({"XAUTOCLAIM", stream_, group_, consumer,
                            milliseconds(config_.claim_idle_seconds), cursor, "COUNT", "1"});
    if (is_error_kind(reply, "NOGROUP") && !retried) {  // the server lost the group (restart)
      ensure_group();
      retried = true;
      continue;
    }
    if (reply.is_error()) fail(reply, "XAUTOCLAIM");
    if (reply.elements.size() < 2) break;
    for (const auto& entry : reply.elements[1].elements) {
      if (auto job = parse_entry(entry)) {
        job->reclaimed = true;
        return job;
      }
      if (entry.type == RedisReply::Type::kArray && !entry.elements.empty())
        ack(entry.elements[0].str());
    }
    if (reply.elements.size() >= 3) {
      for (const auto& deleted : reply.elements[2].elements) {
        redis_.command({"XACK", stream_, group_, deleted.str()});
      }
    }
    cursor = reply.elements[0].str();
    if (cursor == "0-0" || cursor.empty()) break;
  }

  std::vector<std::string> read = {"XREADGROUP", "GROUP", group_, consumer, "COUNT", "1"};
  if (config_.block_seconds > 0) {
    read.push_back("BLOCK");
    read.push_back(milliseconds(config_.block_seconds));
  }
  read.insert(read.end(), {"STREAMS", stream_, ">"});
  BlockingTimeout timeout(redis_, config_.block_seconds);
  RedisReply reply = redis_.try_command(read);
  if (is_error_kind(reply, "NOGROUP")) {
    ensure_group();
    reply = redis_.try_command(read);
  }
  if (reply.is_error()) fail(reply, "XREADGROUP");
  // [[stream, [[id, [field, value, ...]]]]]
  for (const auto& stream : reply.elements) {
    if (stream.elements.size() < 2) continue;
    for (const auto& entry : stream.elements[1].elements) {
      if (auto job = parse_entry(entry)) return job;
    }
  }
  return std::nullopt;
}

int JobStore::count_attempt(const std::string& job_id) {
  RedisReply reply = redis_.command({"HINCRBY", job_key(job_id), "attempts", "1"});
  redis_.command({"PEXPIRE", job_key(job_id), milliseconds(config_.job_ttl_seconds)});
  return static_cast<int>(reply.integer);
}

bool JobStore::lock(const std::string& job_id, const std::string& consumer) {
  RedisReply reply = redis_.command({"EVAL", kLockScript, "1", lock_key(job_id), consumer,
                                     milliseconds(config_.claim_idle_seconds)});
  return reply.integer == 1;
}

void JobStore::refresh(const QueuedJob& job, const std::string& consumer) {
  redis_.command({"EVAL", kLockScript, "1", lock_key(job.job_id), consumer,
                  milliseconds(config_.claim_idle_seconds)});
  redis_.command({"XCLAIM", stream_, group_, consumer, "0", job.entry_id, "JUSTID"});
}

void JobStore::unlock(const std::string& job_id, const std::string& consumer) {
  redis_.command({"EVAL", kUnlockScript, "1", lock_key(job_id), consumer});
}

void JobStore::ack(const std::string& entry_id) {
  redis_.command({"XACK", stream_, group_, entry_id});
  redis_.command({"XDEL", stream_, entry_id});
}

void JobStore::dead_letter(const QueuedJob& job, const std::string& reason, int attempts) {
  redis_.command({"XADD", dead_stream_, "*", "job_id", job.job_id, "payload", job.payload_text,
                  "reason", reason, "attempts", std::to_string(attempts), "failed_at",
                  utc_timestamp()});
  ack(job.entry_id);
}

void JobStore::update(const std::string& job_id, const nlohmann::json& fields) {
  if (!fields.is_object()) {
    throw Error(ErrorCode::kInternalError,
                "job store: update of job " + job_id + " needs an object");
  }
  std::vector<std::string> args = {"HSET", job_key(job_id)};
  for (auto it = fields.begin(); it != fields.end(); ++it) {
    if (it.key() == "updated_at") continue;
    args.push_back(it.key());
    args.push_back(it->is_string() ? it->get<std::string>() : it->dump());
  }
  args.push_back("updated_at");
  args.push_back(utc_timestamp());
  redis_.command(args);
  redis_.command({"PEXPIRE", job_key(job_id), milliseconds(config_.job_ttl_seconds)});
}

std::optional<nlohmann::json> JobStore::get(const std::string& job_id) {
  RedisReply reply = redis_.command({"HGETALL", job_key(job_id)});
  if (reply.elements.empty()) return std::nullopt;
  nlohmann::json job = nlohmann::json::object();
  for (std::size_t i = 0; i + 1 < reply.elements.size(); i += 2) {
    std::string name = reply.elements[i].str();
    std::string value = reply.elements[i + 1].str();
    if (is_json_field(name)) {
      auto parsed = nlohmann::json::parse(value, nullptr, false);
      job[name] = parsed.is_discarded() ? nlohmann::json(value) : parsed;
    } else if (name == "attempts") {
      try {
        job[name] = std::stoll(value);
      } catch (const std::exception&) {
        job[name] = value;
      }
    } else if (name == "cancel") {
      job[name] = value == "1" || value == "true";
    } else {
      job[name] = value;
    }
  }
  return job;
}

bool JobStore::request_cancel(const std::string& job_id) {
  RedisReply reply = redis_.command({"EVAL", kCancelScript, "1", job_key(job_id), utc_timestamp()});
  return reply.integer == 1;
}

bool JobStore::cancel_requested(const std::string& job_id) {
  std::string value = redis_.command({"HGET", job_key(job_id), "cancel"}).str();
  return value == "1" || value == "true";
}

nlohmann::json JobStore::queue_status() {
  long long pending = 0;
  long long consumers = 0;
  RedisReply groups = redis_.try_command({"XINFO", "GROUPS", stream_});
  if (!groups.is_error()) {  // no stream yet: "ERR no such key"
    for (const auto& group : groups.elements) {
      // A flat [name, value, ...] list per group.
      std::string name;
      long long group_pending = 0;
      long long group_consumers = 0;
      for (std::size_t i = 0; i + 1 < group.elements.size(); i += 2) {
        std::string key = group.elements[i].str();
        if (key == "name") name = group.elements[i + 1].str();
        if (key == "pending") group_pending = group.elements[i + 1].integer;
        if (key == "consumers") group_consumers = group.elements[i + 1].integer;
      }
      if (name == group_) {
        pending = group_pending;
        consumers = group_consumers;
      }
    }
  }
  return {{"stream", stream_},
          {"length", redis_.command({"XLEN", stream_}).integer},
          {"pending", pending},
          {"consumers", consumers},
          {"dead_letters", redis_.command({"XLEN", dead_stream_}).integer},
          {"group", group_}};
}

void JobStore::register_worker(const std::string& worker_id, const nlohmann::json& info) {
  redis_.command(
      {"SET", worker_key(worker_id), info.dump(), "PX", milliseconds(config_.worker_ttl_seconds)});
  redis_.command({"SADD", config_.prefix + ":workers", worker_id});
}

void JobStore::unregister_worker(const std::string& worker_id) {
  redis_.command({"DEL", worker_key(worker_id)});
  redis_.command({"SREM", config_.prefix + ":workers", worker_id});
}

std::vector<nlohmann::json> JobStore::live_workers() {
  std::vector<std::string> ids;
  for (const auto& member : redis_.command({"SMEMBERS", config_.prefix + ":workers"}).elements) {
    ids.push_back(member.str());
  }
  std::vector<nlohmann::json> live;
  if (ids.empty()) return live;
  std::sort(ids.begin(), ids.end());
  std::vector<std::string> mget = {"MGET"};
  for (const auto& id : ids) mget.push_back(worker_key(id));
  RedisReply values = redis_.command(mget);
  std::vector<std::string> expired = {"EVAL", kDropExpiredScript, "1", config_.prefix + ":workers",
                                      worker_key("")};
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i >= values.elements.size() || values.elements[i].is_nil()) {
      expired.push_back(ids[i]);
      continue;
    }
    auto info = nlohmann::json::parse(values.elements[i].str(), nullptr, false);
    if (info.is_discarded() || !info.is_object()) info = nlohmann::json::object();
    if (!info.contains("worker_id")) info["worker_id"] = ids[i];
    live.push_back(std::move(info));
  }
  if (expired.size() > 5) redis_.command(expired);
  return live;
}

long long JobStore::worker_ttl(const std::string& worker_id) {
  return redis_.command({"TTL", worker_key(worker_id)}).integer;
}

std::vector<std::string> JobStore::prune_consumers() {
  std::vector<std::string> removed;
  RedisReply consumers = redis_.try_command({"XINFO", "CONSUMERS", stream_, group_});
  if (consumers.is_error()) return removed;  // no stream or group yet
  const long long min_idle_ms = static_cast<long long>(config_.worker_ttl_seconds * 1000.0);
  for (const auto& consumer : consumers.elements) {
    std::string name;
    long long pending = -1, idle = 0;
    for (std::size_t i = 0; i + 1 < consumer.elements.size(); i += 2) {  // [name, value, ...]
      const std::string key = consumer.elements[i].str();
      if (key == "name") name = consumer.elements[i + 1].str();
      if (key == "pending") pending = consumer.elements[i + 1].integer;
      if (key == "idle") idle = consumer.elements[i + 1].integer;
    }
    if (name.empty() || pending != 0 || idle < min_idle_ms) continue;
    if (redis_.command({"EXISTS", worker_key(name)}).integer != 0) continue;
    redis_.command({"XGROUP", "DELCONSUMER", stream_, group_, name});
    removed.push_back(name);
  }
  return removed;
}

}  // namespace workers
