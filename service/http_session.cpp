// HttpSession's reading half: the connection's start, the request read under its limits and
// deadlines (answering 408/413/431/400 itself), and the hand-over to the handler with an HttpReply.
#include "service/http_session.h"

#include <algorithm>
#include <chrono>
#include <exception>
#include <limits>
#include <string_view>

#include <boost/asio/write.hpp>

#include "service/beast_names.h"
#include "service/http_target.h"
#include "utilities/logging.h"

namespace workers {
namespace {

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
constexpr std::size_t kReadChunk = 4096;

std::string_view view(beast::string_view text) { return {text.data(), text.size()}; }

std::string format_seconds(double seconds) {
  std::string text = std::to_string(seconds);
  text.erase(text.find_last_not_of('0') + 1);
  if (!text.empty() && text.back() == '.') text.pop_back();
  return text;
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (auto& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string endpoint_text(const tcp::endpoint& endpoint) {
  const auto address = endpoint.address();
  std::string host = address.to_string();
  if (address.is_v6()) host = "[" + host + "]";
  return host + ":" + std::to_string(endpoint.port());
}

// The handler's side of one request: the first answer wins, and a reply dropped unanswered (or
// mid-stream) still ends the exchange.
class Reply : public HttpReply {
 public:
  explicit Reply(std::shared_ptr<HttpSession> session) : session_(std::move(session)) {}
  ~Reply() override {
    try {
      if (!answered_) {
        session_->abandoned();
      } else if (streaming_) {
        session_->end_events();  // nobody can write to this stream any more
      }
    } catch (...) {
    }
  }

  void send(HttpResponse response) override {
    if (answered_) return;
    answered_ = true;
    session_->send_response(std::move(response));
  }
  void start_events() override {
    if (answered_) return;
    answered_ = true;
    streaming_ = true;
    session_->start_events();
  }
  void event(const std::string& name, const std::string& data) override {
    if (!answered_) start_events();
    if (streaming_) session_->event(name, data);
  }
  void end_events() override {
    if (streaming_) session_->end_events();
  }
  bool closed() const override { return session_->closed(); }
  void on_close(std::function<void()> done) override { session_->add_on_close(std::move(done)); }

 private:
  std::shared_ptr<HttpSession> session_;  // keeps the connection while the handler holds the reply
  bool answered_ = false;
  bool streaming_ = false;
};

}  // namespace

bool HttpSession::to_duration(double seconds, Duration& out) {
  if (!(seconds > 0)) return false;
  seconds = std::min(seconds, 1e9);
  out = std::chrono::duration_cast<Duration>(std::chrono::duration<double>(seconds));
  return true;
}

HttpSession::HttpSession(std::shared_ptr<HttpServerCore> core, tcp::socket socket)
    : core_(std::move(core)), stream_(std::move(socket)), timer_(stream_.get_executor()) {
  beast::error_code ec;
  auto peer = stream_.socket().remote_endpoint(ec);
  if (!ec) remote_ = endpoint_text(peer);
  stream_.socket().set_option(tcp::no_delay(true), ec);
}

void HttpSession::start() {
  counted_ = true;
  ++core_->open;
  arm_read_deadline();
  read_request();
}

void HttpSession::reject() {
  fail(503, Error(ErrorCode::kWorkerUnavailable,
                  "server: too many connections (more than " + std::to_string(core_->limits.max_connections) +
                      " open; workers.instructors.communication.http.max_connections)"));
}

void HttpSession::abandoned() {
  if (closed_ || phase_ != Phase::kHandling || core_->stopped) return;
  send_response(error_response(
      500, Error(ErrorCode::kInternalError, "request: the server dropped the request without an answer")));
}

void HttpSession::arm_read_deadline() {
  Duration duration;
  ++deadline_generation_;
  read_timed_out_ = false;
  if (!to_duration(core_->limits.read_timeout_seconds, duration)) return;
  timer_.expires_after(duration);
  auto self = shared_from_this();
  timer_.async_wait([self, generation = deadline_generation_](const beast::error_code& ec) {
    if (ec || self->closed_ || generation != self->deadline_generation_) return;
    if (self->phase_ != Phase::kReading) return;
    self->read_timed_out_ = true;
    beast::error_code ignored;
    self->stream_.socket().cancel(ignored);  // the pending read ends with operation_aborted
  });
}

void HttpSession::disarm_read_deadline() {
  ++deadline_generation_;
  timer_.cancel();
}

// Between keep-alive requests: up to idle_timeout_seconds for the next request's first byte.
void HttpSession::wait_for_request() {
  if (buffer_.size() > 0) {  // pipelined: already here
    arm_read_deadline();
    read_request();
    return;
  }
  phase_ = Phase::kIdle;
  Duration idle;
  if (to_duration(core_->limits.idle_timeout_seconds, idle)) {
    stream_.expires_after(idle);
  } else {
    stream_.expires_never();
  }
  auto self = shared_from_this();
  stream_.async_read_some(buffer_.prepare(kReadChunk), [self](const beast::error_code& ec, std::size_t n) {
    self->buffer_.commit(n);
    if (self->closed_) return;
    self->stream_.expires_never();
    if (ec && n == 0) {  // idle timeout or the peer left: nothing to answer
      self->close_now();
      return;
    }
    self->arm_read_deadline();
    self->read_request();
  });
}

void HttpSession::read_request() {
  phase_ = Phase::kReading;
  parser_.emplace();
  parser_->body_limit(static_cast<std::uint64_t>(core_->limits.max_body_bytes));
  parser_->header_limit(static_cast<std::uint32_t>(
      std::min<std::size_t>(core_->limits.max_header_bytes, std::numeric_limits<std::uint32_t>::max())));
  stream_.expires_never();
  auto self = shared_from_this();
  http::async_read_header(stream_, buffer_, *parser_,
                          [self](const beast::error_code& ec, std::size_t) { self->on_header(ec); });
}

void HttpSession::on_header(const beast::error_code& ec) {
  if (closed_) return;
  if (ec || read_timed_out_) {
    on_read_error(ec);
    return;
  }
  const auto& request = parser_->get();
  if (!parser_->is_done() && beast::iequals(request[http::field::expect], "100-continue")) {
    arm_write_deadline();
    auto self = shared_from_this();
    asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                      [self](const beast::error_code& write_ec, std::size_t) {
                        if (self->closed_) return;
                        self->stream_.expires_never();
                        if (write_ec || self->read_timed_out_) {
                          self->on_read_error(write_ec);
                          return;
                        }
                        self->read_body();
                      });
    return;
  }
  read_body();
}

void HttpSession::read_body() {
  if (parser_->is_done()) {
    on_request();
    return;
  }
  auto self = shared_from_this();
  http::async_read(stream_, buffer_, *parser_, [self](const beast::error_code& ec, std::size_t) {
    if (self->closed_) return;
    if (ec) {
      self->on_read_error(ec);
      return;
    }
    self->on_request();  // complete, even when the deadline fired just now
  });
}

void HttpSession::on_read_error(const beast::error_code& ec) {
  disarm_read_deadline();
  const auto& limits = core_->limits;
  bool got_bytes = buffer_.size() > 0 || (parser_ && parser_->got_some());
  if (read_timed_out_) {
    if (!got_bytes) {
      close_now();  // an idle new connection: nothing to answer
      return;
    }
    fail(408, Error(ErrorCode::kTimeoutError,
                    "request: not received whole within " + format_seconds(limits.read_timeout_seconds) + " s",
                    "request"));
    return;
  }
  if (ec == http::error::body_limit) {
    fail(413, Error(ErrorCode::kInvalidRequest,
                    "body: the request body exceeds " + std::to_string(limits.max_body_bytes) +
                        " bytes (workers.instructors.communication.http.max_body_bytes)",
                    "body"));
  } else if (ec == http::error::header_limit) {
    fail(431, Error(ErrorCode::kInvalidRequest,
                    "headers: the request headers exceed " + std::to_string(limits.max_header_bytes) +
                        " bytes (workers.instructors.communication.http.max_header_bytes)",
                    "headers"));
  } else if (ec == http::error::end_of_stream || ec == http::error::partial_message) {
    close_now();  // the peer left (mid-request: nobody to answer)
  } else if (ec.category() == http::make_error_code(http::error::bad_method).category()) {
    fail(400, Error(ErrorCode::kInvalidRequest, "request: malformed HTTP (" + ec.message() + ")", "request"));
  } else {
    close_now();  // a socket error: the connection is gone
  }
}

// An answer the server gives itself (limits, timeouts, bad HTTP); the connection closes after.
void HttpSession::fail(int status, const Error& error) {
  disarm_read_deadline();
  keep_alive_ = false;
  version_ = 11;
  phase_ = Phase::kHandling;
  HttpResponse response = error_response(status, error);
  if (status == 503) response.headers.emplace_back("Retry-After", "1");
  send_response(std::move(response));
}

void HttpSession::on_request() {
  disarm_read_deadline();
  phase_ = Phase::kHandling;
  auto message = parser_->release();
  parser_.reset();
  keep_alive_ = message.keep_alive();
  version_ = message.version();

  HttpRequest request;
  request.method = std::string(message.method_string());
  request.target = std::string(message.target());
  try {
    HttpTarget target = parse_http_target(view(message.target()));
    request.path = std::move(target.path);
    request.query = std::move(target.query);
  } catch (const Error& e) {
    fail(400, e);
    return;
  }
  for (const auto& field : message) {
    std::string name = lower(view(field.name_string()));
    auto [it, inserted] = request.headers.emplace(name, std::string(field.value()));
    if (!inserted) it->second += ", " + std::string(field.value());
  }
  request.body = std::move(message.body());
  request.remote = remote_;

  auto reply = std::make_shared<Reply>(shared_from_this());
  try {
    if (!core_->handler) throw Error(ErrorCode::kInternalError, "server: no request handler");
    core_->handler(request, reply);
  } catch (const Error& e) {
    get_logger()->warn("http: {} {} failed: {}", request.method, request.target, e.what());
    reply->send(error_response(500, e));
  } catch (const std::exception& e) {
    get_logger()->warn("http: {} {} failed: {}", request.method, request.target, e.what());
    reply->send(error_response(500, Error(ErrorCode::kInternalError, e.what())));
  }
}

}  // namespace workers
