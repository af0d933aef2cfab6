// RedisClient: one synchronous connection to a real redis-server through Debian's libhiredis, for
// the job queue (service/job_store.h). Not thread-safe: each thread that talks to Redis owns one.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "utilities/error.h"

struct redisContext;

namespace workers {

// redis://[:password@]host[:port][/db] or unix:///path/to/redis.sock[?db=N]
struct RedisUrl {
  std::string host;       // empty for a unix socket
  int port = 6379;
  std::string unix_path;  // set for unix://
  int db = 0;
  std::string password;
  std::string text;  // the URL as given, password masked ("redis://:***@host:port/db")
};

// Throws Error(CONFIG_ERROR, field `field`) naming what is wrong with the URL.
RedisUrl parse_redis_url(const std::string& url, const std::string& field = "redis");

struct RedisReply {
  enum class Type { kNil, kString, kInteger, kArray, kStatus, kError };
  Type type = Type::kNil;
  std::string text;  // string, status or error text
  long long integer = 0;
  std::vector<RedisReply> elements;

  bool is_nil() const { return type == Type::kNil; }
  bool is_error() const { return type == Type::kError; }
  // The text of a string/status reply, the decimal of an integer, "" for nil.
  std::string str() const;
};

class RedisClient {
 public:
  // Connects (and AUTH / SELECT as the URL says). Throws Error(WORKER_UNAVAILABLE) when
  // redis-server cannot be reached within `timeout_seconds`; the message names the URL.
  explicit RedisClient(RedisUrl url, double timeout_seconds = 5.0);
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // One command, arguments binary-safe. An I/O failure reconnects once and retries; if that fails
  // too, Error(WORKER_UNAVAILABLE). An error reply (e.g. "ERR ...") throws Error(INTERNAL_ERROR)
  // with Redis's text; use try_command where an error reply is an expected answer.
  RedisReply command(const std::vector<std::string>& args);
  // Like command() but returns error replies instead of throwing (I/O failures still throw).
  RedisReply try_command(const std::vector<std::string>& args);
  // Read timeout of this connection: a blocking command (XREADGROUP BLOCK ms) must block for less.
  void set_timeout(double seconds);
  double timeout_seconds() const { return timeout_seconds_; }
  const RedisUrl& url() const { return url_; }

 private:
  void connect();
  RedisReply run(const std::vector<std::string>& args);

  RedisUrl url_;
  double timeout_seconds_;
  redisContext* context_ = nullptr;
};

}  // namespace workers
