// RedisClient over libhiredis (0.14, RESP2): URL parsing, connect + AUTH + SELECT, binary-safe
// argv commands, replies copied into RedisReply, one reconnect on an I/O failure.
#include "service/redis_client.h"

#include <hiredis/hiredis.h>
#include <signal.h>
#include <sys/time.h>

#include <cctype>
#include <cmath>
#include <utility>

#include "utilities/strings.h"

namespace workers {

namespace {

[[noreturn]] void bad_url(const std::string& field, const std::string& message) {
  throw Error(ErrorCode::kConfigError, field + ": " + message, field);
}

// A non-negative decimal that fits an int, or -1.
int parse_decimal(const std::string& text, int max) {
  if (text.empty() || text.size() > 9) return -1;
  int value = 0;
  for (char c : text) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return -1;
    value = value * 10 + (c - '0');
  }
  return value <= max ? value : -1;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Passwords may carry reserved characters percent-encoded ("p%40ss" for "p@ss").
std::string percent_decode(const std::string& text, const std::string& field) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    int high = i + 2 < text.size() ? hex_digit(text[i + 1]) : -1;
    int low = i + 2 < text.size() ? hex_digit(text[i + 2]) : -1;
    if (high < 0 || low < 0) bad_url(field, "bad percent-encoding in the password");
    out += static_cast<char>(high * 16 + low);
    i += 2;
  }
  return out;
}

int parse_db(const std::string& text, const std::string& field) {
  int db = parse_decimal(text, 1 << 20);
  if (db < 0) bad_url(field, "database must be a non-negative integer, got \"" + text + "\"");
  return db;
}

// unix:///path/to/redis.sock[?db=N[&password=P]]
RedisUrl parse_unix_url(const std::string& url, const std::string& field) {
  RedisUrl parsed;
  std::string rest = url.substr(std::string("unix://").size());
  std::string query;
  if (auto q = rest.find('?'); q != std::string::npos) {
    query = rest.substr(q + 1);
    rest.resize(q);
  }
  if (rest.empty() || rest[0] != '/') {
    bad_url(field, "a unix socket URL names an absolute path: unix:///path/to/redis.sock");
  }
  parsed.unix_path = rest;
  parsed.text = url;
  std::size_t start = 0;
  while (!query.empty() && start <= query.size()) {
    std::size_t end = query.find('&', start);
    if (end == std::string::npos) end = query.size();
    std::string pair = query.substr(start, end - start);
    std::size_t eq = pair.find('=');
    std::string key = pair.substr(0, eq);
    std::string value = eq == std::string::npos ? "" : pair.substr(eq + 1);
    if (key == "db") {
      parsed.db = parse_db(value, field);
    } else if (key == "password") {
      parsed.password = percent_decode(value, field);
    } else {
      bad_url(field, "unknown parameter \"" + key + "\" (unix:///path?db=N)");
    }
    start = end + 1;
  }
  // Rebuilt from the parsed parts, so no spelling of the URL can carry the password into logs.
  parsed.text = "unix://" + parsed.unix_path;
  if (parsed.db != 0 || !parsed.password.empty()) parsed.text += "?db=" + std::to_string(parsed.db);
  if (!parsed.password.empty()) parsed.text += "&password=***";
  return parsed;
}

// The URL for error messages: whatever stands between "://" and the last '@' (credentials) masked.
std::string masked(const std::string& url) {
  const auto scheme = url.find("://");
  const auto at = url.rfind('@');
  if (scheme == std::string::npos || at == std::string::npos || at < scheme) return url;
  return url.substr(0, scheme + 3) + ":***" + url.substr(at);
}

}  // namespace

RedisUrl parse_redis_url(const std::string& url, const std::string& field) {
  if (starts_with(url, "unix://")) return parse_unix_url(url, field);
  if (starts_with(url, "rediss://")) bad_url(field, "TLS (rediss://) is not supported");
  if (!starts_with(url, "redis://")) {
    bad_url(field, "expected redis://[:password@]host[:port][/db] or unix:///path[?db=N], got \"" +
                       masked(url) + "\"");
  }
  RedisUrl parsed;
  parsed.text = masked(url);
  std::string rest = url.substr(std::string("redis://").size());
  std::string path;
  if (auto slash = rest.find('/'); slash != std::string::npos) {
    path = rest.substr(slash + 1);
    rest.resize(slash);
  }
  if (auto at = rest.rfind('@'); at != std::string::npos) {
    std::string userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    std::size_t colon = userinfo.find(':');
    if (colon == std::string::npos)
      bad_url(field, "credentials are written redis://:password@host");
    std::string user = userinfo.substr(0, colon);
    if (!user.empty() && user != "default") {
      bad_url(field, "only the default user is supported (redis://:password@host)");
    }
    std::string raw_password = userinfo.substr(colon + 1);
    parsed.password = percent_decode(raw_password, field);
  }
  std::string port_text;
  if (!rest.empty() && rest[0] == '[') {  // [::1]:6379
    std::size_t close = rest.find(']');
    if (close == std::string::npos)
      bad_url(field, "unterminated IPv6 address in \"" + parsed.text + "\"");
    parsed.host = rest.substr(1, close - 1);
    std::string after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') bad_url(field, "unexpected text after the IPv6 address");
      port_text = after.substr(1);
      if (port_text.empty()) bad_url(field, "empty port");
    }
  } else if (auto colon = rest.find(':'); colon != std::string::npos) {
    parsed.host = rest.substr(0, colon);
    port_text = rest.substr(colon + 1);
    if (port_text.empty()) bad_url(field, "empty port");
  } else {
    parsed.host = rest;
  }
  if (parsed.host.empty()) bad_url(field, "no host in \"" + parsed.text + "\"");
  if (!port_text.empty()) {
    parsed.port = parse_decimal(port_text, 65535);
    if (parsed.port <= 0) bad_url(field, "port must be 1..65535, got \"" + port_text + "\"");
  }
  if (!path.empty()) parsed.db = parse_db(path, field);
  const bool v6 = parsed.host.find(':') != std::string::npos;
  parsed.text = "redis://" + std::string(parsed.password.empty() ? "" : ":***@") +
                (v6 ? "[" + parsed.host + "]" : parsed.host) + ":" + std::to_string(parsed.port) + "/" +
                std::to_string(parsed.db);
  return parsed;
}

std::string RedisReply::str() const {
  switch (type) {
    case Type::kString:
    case Type::kStatus:
    case Type::kError:
      return text;
    case Type::kInteger:
      return std::to_string(integer);
    case Type::kNil:
    case Type::kArray:
      return {};
  }
  return {};
}

namespace {

struct timeval to_timeval(double seconds) {
  if (!(seconds > 0)) seconds = 0.001;
  struct timeval tv {};
  tv.tv_sec = static_cast<time_t>(seconds);
  tv.tv_usec =
      static_cast<suseconds_t>(std::lround((seconds - static_cast<double>(tv.tv_sec)) * 1e6));
  if (tv.tv_usec >= 1000000) {
    tv.tv_sec += 1;
    tv.tv_usec -= 1000000;
  }
  return tv;
}

RedisReply convert(const redisReply& reply) {
  RedisReply out;
  switch (reply.type) {
    case REDIS_REPLY_STRING:
      out.type = RedisReply::Type::kString;
      break;
    case REDIS_REPLY_STATUS:
      out.type = RedisReply::Type::kStatus;
      break;
    case REDIS_REPLY_ERROR:
      out.type = RedisReply::Type::kError;
      break;
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::kInteger;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::kArray;
      break;
    default:
      out.type = RedisReply::Type::kNil;
      break;
  }
  if (reply.type == REDIS_REPLY_STRING || reply.type == REDIS_REPLY_STATUS ||
      reply.type == REDIS_REPLY_ERROR) {
    if (reply.str != nullptr) out.text.assign(reply.str, reply.len);
  } else if (reply.type == REDIS_REPLY_INTEGER) {
    out.integer = reply.integer;
  } else if (reply.type == REDIS_REPLY_ARRAY) {
    out.elements.reserve(reply.elements);
    for (std::size_t i = 0; i < reply.elements; ++i) {
      out.elements.push_back(reply.element[i] != nullptr ? convert(*reply.element[i])
                                                         : RedisReply{});
    }
  }
  return out;
}

// Writing to a connection the server closed raises SIGPIPE, which would end the process: block it
// in this thread around a command and swallow one it raised (the write then fails with EPIPE).
class SigpipeGuard {
 public:
  SigpipeGuard() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    blocked_ = pthread_sigmask(SIG_BLOCK, &pipe_, &previous_) == 0;
  }
  ~SigpipeGuard() {
    if (!blocked_) return;
    if (!was_pending_) {
      sigset_t pending;
      sigpending(&pending);
      if (sigismember(&pending, SIGPIPE) == 1) {
        struct timespec zero {};
        sigtimedwait(&pipe_, nullptr, &zero);
      }
    }
    pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
  }
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;

 private:
  sigset_t pipe_;
  sigset_t previous_;
  bool was_pending_ = false;
  bool blocked_ = false;
};

struct ReplyDeleter {
  void operator()(redisReply* reply) const { freeReplyObject(reply); }
};

}  // namespace

RedisClient::RedisClient(RedisUrl url, double timeout_seconds)
    : url_(std::move(url)), timeout_seconds_(timeout_seconds) {
  connect();
}

RedisClient::~RedisClient() {
  if (context_ != nullptr) redisFree(context_);
}

void RedisClient::connect() {
  if (context_ != nullptr) {
    redisFree(context_);
    context_ = nullptr;
  }
  struct timeval tv = to_timeval(timeout_seconds_);
  redisContext* context = url_.unix_path.empty()
                              ? redisConnectWithTimeout(url_.host.c_str(), url_.port, tv)
                              : redisConnectUnixWithTimeout(url_.unix_path.c_str(), tv);
  if (context == nullptr) {
    throw Error(ErrorCode::kWorkerUnavailable,
                "redis at " + url_.text + ": cannot allocate a connection");
  }
  if (context->err != 0) {
    std::string reason = context->errstr;
    redisFree(context);
    throw Error(ErrorCode::kWorkerUnavailable, "redis at " + url_.text + ": " + reason);
  }
  redisSetTimeout(context, tv);
  context_ = context;
  auto setup = [this](const std::vector<std::string>& args, const std::string& what) {
    RedisReply reply = run(args);
    if (reply.is_error()) {
      redisFree(context_);
      context_ = nullptr;
      throw Error(ErrorCode::kWorkerUnavailable,
                  "redis at " + url_.text + ": " + what + " refused: " + reply.text);
    }
  };
  if (!url_.password.empty()) setup({"AUTH", url_.password}, "AUTH");
  if (url_.db != 0) setup({"SELECT", std::to_string(url_.db)}, "SELECT");
}

// Throws Error(WORKER_UNAVAILABLE) on an I/O failure, leaving the context closed.
RedisReply RedisClient::run(const std::vector<std::string>& args) {
  if (context_ == nullptr) connect();
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  argv.reserve(args.size());
  lengths.reserve(args.size());
  for (const auto& arg : args) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  std::unique_ptr<redisReply, ReplyDeleter> reply;
  {
    SigpipeGuard guard;
    reply.reset(static_cast<redisReply*>(
        redisCommandArgv(context_, static_cast<int>(argv.size()), argv.data(), lengths.data())));
  }
  if (reply == nullptr || context_->err != 0) {
    std::string reason = context_->err != 0 ? context_->errstr : "no reply";
    if (reason.empty()) reason = "connection lost";
    redisFree(context_);
    context_ = nullptr;
    throw Error(ErrorCode::kWorkerUnavailable, "redis at " + url_.text + ": " + reason);
  }
  return convert(*reply);
}

RedisReply RedisClient::try_command(const std::vector<std::string>& args) {
  if (args.empty()) throw Error(ErrorCode::kInternalError, "redis: empty command");
  try {
    return run(args);
  } catch (const Error& error) {
    if (error.code() != ErrorCode::kWorkerUnavailable) throw;
  }
  // The server restarted or the connection dropped: one fresh connection, one more try.
  connect();
  return run(args);
}

RedisReply RedisClient::command(const std::vector<std::string>& args) {
  RedisReply reply = try_command(args);
  if (reply.is_error()) {
    throw Error(ErrorCode::kInternalError, "redis: " + reply.text + " (" + args[0] + ")");
  }
  return reply;
}

void RedisClient::set_timeout(double seconds) {
  timeout_seconds_ = seconds;
  if (context_ != nullptr) redisSetTimeout(context_, to_timeval(seconds));
}

}  // namespace workers
