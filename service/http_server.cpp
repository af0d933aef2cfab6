// HttpServer: the service's HTTP/1.1 server on Boost.Beast. One Session per connection reads a
// request under its limits and deadline, hands it to the handler with a Reply, writes the answer
// (at once, later, or as server-sent events) and then waits for the next keep-alive request.
#include "service/http_server.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <exception>
#include <limits>
#include <optional>
#include <string_view>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "communication/envelope.h"
#include "utilities/logging.h"

namespace workers {
namespace {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr char kServerName[] = "sdxl-workers";
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
constexpr double kMaxLingerSeconds = 2.0;  // draining a client after an error answer
constexpr std::size_t kReadChunk = 4096;

std::string_view view(beast::string_view text) { return {text.data(), text.size()}; }

// Seconds as a timer duration; false when there is no deadline (zero, negative, NaN).
bool to_duration(double seconds, asio::steady_timer::duration& out) {
  if (!(seconds > 0)) return false;
  seconds = std::min(seconds, 1e9);
  out = std::chrono::duration_cast<asio::steady_timer::duration>(std::chrono::duration<double>(seconds));
  return true;
}

std::string format_seconds(double seconds) {
  std::string text = std::to_string(seconds);
  text.erase(text.find_last_not_of('0') + 1);
  if (!text.empty() && text.back() == '.') text.pop_back();
  return text;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// %XX escapes (and '+' as a space in query parts); false on a malformed escape.
bool percent_decode(std::string_view in, bool plus_is_space, std::string& out) {
  out.clear();
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      int hi = hex_value(in[i + 1]);
      int lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return true;
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (auto& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Header names and values go on the wire as given: no line breaks may sneak in.
std::string strip_line_breaks(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c != '\r' && c != '\n' && c != '\0') out.push_back(c);
  }
  return out;
}

std::string endpoint_text(const tcp::endpoint& endpoint) {
  const auto address = endpoint.address();
  std::string host = address.to_string();
  if (address.is_v6()) host = "[" + host + "]";
  return host + ":" + std::to_string(endpoint.port());
}

class Session;

// What the sessions share with the server: the limits, the handler, the live connections.
struct ServerCore : std::enable_shared_from_this<ServerCore> {
  ServerCore(asio::io_context& io_context, HttpServerLimits server_limits, HttpHandler request_handler)
      : io(io_context),
        limits(server_limits),
        handler(std::move(request_handler)),
        acceptor(io_context),
        accept_retry(io_context) {}

  void accept();
  void stop();

  asio::io_context& io;
  HttpServerLimits limits;
  HttpHandler handler;
  tcp::acceptor acceptor;
  asio::steady_timer accept_retry;
  std::vector<std::weak_ptr<Session>> sessions;  // loop thread only
  std::atomic<std::size_t> open{0};              // sessions counted against max_connections
  std::atomic<bool> stopped{false};
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(std::shared_ptr<ServerCore> core, tcp::socket socket)
      : core_(std::move(core)), stream_(std::move(socket)), timer_(stream_.get_executor()) {
    beast::error_code ec;
    auto peer = stream_.socket().remote_endpoint(ec);
    if (!ec) remote_ = endpoint_text(peer);
    stream_.socket().set_option(tcp::no_delay(true), ec);
  }

  ~Session() { mark_closed(); }

  // A counted connection: its first request's deadline runs from now.
  void start() {
    counted_ = true;
    ++core_->open;
    arm_read_deadline();
    read_request();
  }

  // Over max_connections: 503, then close.
  void reject() {
    fail(503, Error(ErrorCode::kWorkerUnavailable,
                    "server: too many connections (more than " + std::to_string(core_->limits.max_connections) +
                        " open; workers.instructors.communication.http.max_connections)"));
  }

  // stop(), a failed write, the peer gone: closes at once.
  void close_now() {
    mark_closed();
    timer_.cancel();
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
  }

  bool closed() const { return closed_; }

  void add_on_close(std::function<void()> done) {
    if (!done) return;
    if (closed_) {
      run_callback(done);
    } else {
      on_close_.push_back(std::move(done));
    }
  }

  void send_response(HttpResponse response) {
    if (closed_ || phase_ != Phase::kHandling) return;
    auto res = std::make_shared<http::response<http::string_body>>();
    res->version(version_);
    int status = response.status;
    if (status < 200 || status > 999) status = 500;
    res->result(static_cast<unsigned>(status));
    res->set(http::field::server, kServerName);
    bool empty_body = status == 204 || status == 304;
    if (!response.content_type.empty() && !empty_body) {
      res->set(http::field::content_type, strip_line_breaks(response.content_type));
    }
    for (const auto& [name, value] : response.headers) {
      std::string clean_name = strip_line_breaks(name);
      if (clean_name.empty()) continue;
      res->insert(clean_name, strip_line_breaks(value));
    }
    if (!empty_body) res->body() = std::move(response.body);
    res->keep_alive(keep_alive_ && !core_->stopped);
    res->prepare_payload();
    write_response(std::move(res));
  }

  void start_events() {
    if (closed_ || phase_ != Phase::kHandling) return;
    phase_ = Phase::kStreaming;
    std::string header = "HTTP/1.1 200 OK\r\nServer: ";
    header += kServerName;
    header +=
        "\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n"
        "X-Accel-Buffering: no\r\n\r\n";
    out_.push_back(std::move(header));
    watch_peer();  // EOF while streaming: the client went away
    flush();
  }

  void event(const std::string& name, const std::string& data) {
    if (closed_ || phase_ != Phase::kStreaming || ending_) return;
    std::string text = "event: " + strip_line_breaks(name) + "\n";
    std::size_t begin = 0;
    while (true) {  // a line break in DATA starts another data line (the client joins them)
      std::size_t end = data.find('\n', begin);
      std::string_view line(data.data() + begin, (end == std::string::npos ? data.size() : end) - begin);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      text += "data: " + strip_line_breaks(line) + "\n";
      if (end == std::string::npos) break;
      begin = end + 1;
    }
    text += "\n";
    out_.push_back(std::move(text));
    flush();
  }

  void end_events() {
    if (closed_ || phase_ != Phase::kStreaming || ending_) return;
    ending_ = true;
    flush();
  }

  // The handler dropped its reply without answering: a 500 rather than a client waiting forever.
  void abandoned() {
    if (closed_ || phase_ != Phase::kHandling || core_->stopped) return;
    send_response(error_response(
        500, Error(ErrorCode::kInternalError, "request: the server dropped the request without an answer")));
  }

 private:
  enum class Phase { kReading, kHandling, kWriting, kStreaming, kIdle, kClosing };

  // --- reading -------------------------------------------------------------------------------

  void arm_read_deadline() {
    asio::steady_timer::duration duration;
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

  void disarm_read_deadline() {
    ++deadline_generation_;
    timer_.cancel();
  }

  // Between keep-alive requests: up to idle_timeout_seconds for the next request's first byte.
  void wait_for_request() {
    if (buffer_.size() > 0) {  // pipelined: already here
      arm_read_deadline();
      read_request();
      return;
    }
    phase_ = Phase::kIdle;
    asio::steady_timer::duration idle;
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

  void read_request() {
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

  void on_header(const beast::error_code& ec) {
    if (closed_) return;
    if (ec || read_timed_out_) {
      on_read_error(ec);
      return;
    }
    const auto& request = parser_->get();
    if (!parser_->is_done() && beast::iequals(request[http::field::expect], "100-continue")) {
      asio::steady_timer::duration write_limit;
      if (to_duration(core_->limits.write_timeout_seconds, write_limit)) stream_.expires_after(write_limit);
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

  void read_body() {
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

  void on_read_error(const beast::error_code& ec) {
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

  // --- handling ------------------------------------------------------------------------------

  void on_request();

  // An answer the server gives itself (limits, timeouts, bad HTTP); the connection closes after.
  void fail(int status, const Error& error) {
    disarm_read_deadline();
    keep_alive_ = false;
    version_ = 11;
    phase_ = Phase::kHandling;
    HttpResponse response = error_response(status, error);
    if (status == 503) response.headers.emplace_back("Retry-After", "1");
    send_response(std::move(response));
  }

  // --- writing -------------------------------------------------------------------------------

  void write_response(std::shared_ptr<http::response<http::string_body>> res) {
    phase_ = Phase::kWriting;
    asio::steady_timer::duration write_limit;
    if (to_duration(core_->limits.write_timeout_seconds, write_limit)) {
      stream_.expires_after(write_limit);
    } else {
      stream_.expires_never();
    }
    auto self = shared_from_this();
    http::async_write(stream_, *res, [self, res](const beast::error_code& ec, std::size_t) {
      if (self->closed_) return;
      self->stream_.expires_never();
      if (ec) {
        self->close_now();
      } else if (!res->keep_alive()) {
        self->linger_close();
      } else {
        self->wait_for_request();
      }
    });
  }

  // Event-stream writes: one in flight, the rest queued.
  void flush() {
    if (writing_ || closed_) return;
    if (out_.empty()) {
      if (ending_) linger_close();
      return;
    }
    writing_ = true;
    asio::steady_timer::duration write_limit;
    if (to_duration(core_->limits.write_timeout_seconds, write_limit)) {
      stream_.expires_after(write_limit);
    } else {
      stream_.expires_never();
    }
    auto self = shared_from_this();
    asio::async_write(stream_, asio::buffer(out_.front()), [self](const beast::error_code& ec, std::size_t) {
      self->writing_ = false;
      if (self->closed_) return;
      if (ec) {
        self->close_now();
        return;
      }
      self->out_.pop_front();
      self->flush();
    });
  }

  // Reads (and drops) whatever the peer sends; its EOF or an error closes the connection.
  void watch_peer() {
    if (watching_) return;
    watching_ = true;
    auto self = shared_from_this();
    stream_.socket().async_read_some(asio::buffer(drain_), [self](const beast::error_code& ec, std::size_t) {
      self->watching_ = false;
      if (ec) {
        self->close_now();
        return;
      }
      if (self->socket_open()) self->watch_peer();
    });
  }

  bool socket_open() const { return stream_.socket().is_open(); }

  // After the last byte of a closing answer: FIN, then drain what the client still sends for a
  // moment, so that the answer is not lost to a reset from unread request bytes.
  void linger_close() {
    mark_closed();
    phase_ = Phase::kClosing;
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) {
      close_now();
      return;
    }
    asio::steady_timer::duration linger;
    double seconds = std::min(kMaxLingerSeconds, core_->limits.read_timeout_seconds > 0
                                                     ? core_->limits.read_timeout_seconds
                                                     : kMaxLingerSeconds);
    to_duration(seconds, linger);
    ++deadline_generation_;
    timer_.expires_after(linger);
    auto self = shared_from_this();
    timer_.async_wait([self](const beast::error_code& timer_ec) {
      if (!timer_ec) self->close_now();
    });
    watch_peer();
  }

  // --- closing -------------------------------------------------------------------------------

  static void run_callback(const std::function<void()>& done) {
    try {
      done();
    } catch (const std::exception& e) {
      get_logger()->warn("http: an on_close callback threw: {}", e.what());
    } catch (...) {
      get_logger()->warn("http: an on_close callback threw");
    }
  }

  void mark_closed() {
    if (closed_) return;
    closed_ = true;
    if (counted_) --core_->open;
    auto callbacks = std::move(on_close_);
    on_close_.clear();
    for (const auto& done : callbacks) run_callback(done);
  }

  std::shared_ptr<ServerCore> core_;
  beast::tcp_stream stream_;
  asio::steady_timer timer_;  // the request's read deadline, then the closing linger
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::string remote_;
  Phase phase_ = Phase::kReading;
  unsigned version_ = 11;
  bool keep_alive_ = false;
  bool counted_ = false;
  std::atomic<bool> closed_{false};
  bool read_timed_out_ = false;
  std::uint64_t deadline_generation_ = 0;
  std::deque<std::string> out_;  // event-stream bytes waiting to be written
  bool writing_ = false;
  bool ending_ = false;
  bool watching_ = false;
  std::array<char, 1024> drain_{};
  std::vector<std::function<void()>> on_close_;
};

class Reply : public HttpReply {
 public:
  explicit Reply(std::shared_ptr<Session> session) : session_(std::move(session)) {}
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
  std::shared_ptr<Session> session_;  // keeps the connection while the handler holds the reply
  bool answered_ = false;
  bool streaming_ = false;
};

void Session::on_request() {
  disarm_read_deadline();
  phase_ = Phase::kHandling;
  auto message = parser_->release();
  parser_.reset();
  keep_alive_ = message.keep_alive();
  version_ = message.version();

  HttpRequest request;
  request.method = std::string(message.method_string());
  request.target = std::string(message.target());
  std::string_view target = view(message.target());
  std::size_t question = target.find('?');
  std::string_view path = target.substr(0, question);
  if (!percent_decode(path, false, request.path)) {
    fail(400, Error(ErrorCode::kInvalidRequest, "target: invalid percent-escape in the path", "target"));
    return;
  }
  if (question != std::string_view::npos) {
    std::string_view query = target.substr(question + 1);
    std::size_t hash = query.find('#');
    if (hash != std::string_view::npos) query = query.substr(0, hash);
    while (!query.empty()) {
      std::size_t amp = query.find('&');
      std::string_view part = query.substr(0, amp);
      query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
      if (part.empty()) continue;
      std::size_t eq = part.find('=');
      std::string key;
      std::string value;
      if (!percent_decode(part.substr(0, eq), true, key) ||
          (eq != std::string_view::npos && !percent_decode(part.substr(eq + 1), true, value))) {
        fail(400, Error(ErrorCode::kInvalidRequest, "target: invalid percent-escape in the query", "target"));
        return;
      }
      request.query[key] = value;
    }
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

void ServerCore::accept() {
  auto self = shared_from_this();
  acceptor.async_accept([self](const beast::error_code& ec, tcp::socket socket) {
    if (self->stopped || !self->acceptor.is_open()) return;
    if (ec) {
      if (ec == asio::error::operation_aborted) return;
      get_logger()->warn("http: accept failed: {}", ec.message());
      self->accept_retry.expires_after(std::chrono::milliseconds(100));  // e.g. out of descriptors
      self->accept_retry.async_wait([self](const beast::error_code& retry_ec) {
        if (!retry_ec && !self->stopped) self->accept();
      });
      return;
    }
    auto& live = self->sessions;
    live.erase(std::remove_if(live.begin(), live.end(), [](const auto& weak) { return weak.expired(); }),
               live.end());
    auto session = std::make_shared<Session>(self, std::move(socket));
    live.push_back(session);
    if (self->open >= self->limits.max_connections) {
      session->reject();
    } else {
      session->start();
    }
    self->accept();
  });
}

void ServerCore::stop() {
  if (stopped.exchange(true)) return;
  beast::error_code ec;
  acceptor.close(ec);
  accept_retry.cancel();
  auto live = std::move(sessions);
  sessions.clear();
  for (const auto& weak : live) {
    if (auto session = weak.lock()) session->close_now();
  }
}

}  // namespace

struct HttpServer::State : ServerCore {
  using ServerCore::ServerCore;
};

std::string HttpRequest::header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

HttpResponse json_response(int status, const nlohmann::json& body) {
  HttpResponse response;
  response.status = status;
  response.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return response;
}

HttpResponse error_response(int status, const Error& error, const std::string& request_id) {
  ResponseMeta meta;
  meta.request_id = request_id;
  meta.message_type = "error_response";
  return json_response(status, make_failure(meta, error));
}

HttpServer::HttpServer(boost::asio::io_context& io, HttpServerLimits limits, HttpHandler handler)
    : state_(std::make_shared<State>(io, limits, std::move(handler))) {}

HttpServer::~HttpServer() { stop(); }

unsigned short HttpServer::listen(const std::string& host, unsigned short port) {
  auto& acceptor = state_->acceptor;
  const std::string where = host + ":" + std::to_string(port);
  auto fail = [&](const std::string& reason) {
    beast::error_code ignored;
    acceptor.close(ignored);
    return Error(ErrorCode::kConfigError, "port: cannot listen on " + where + ": " + reason, "port");
  };
  if (state_->stopped) throw fail("the server is stopped");
  beast::error_code ec;
  acceptor.close(ec);
  tcp::resolver resolver(state_->io);
  auto results = resolver.resolve(host, std::to_string(port), tcp::resolver::passive | tcp::resolver::numeric_service,
                                  ec);
  if (ec) throw fail(ec.message());
  if (results.empty()) throw fail("the host resolves to no address");
  tcp::endpoint endpoint = results.begin()->endpoint();
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw fail(ec.message());
  unsigned short bound = acceptor.local_endpoint(ec).port();
  if (ec) throw fail(ec.message());
  state_->accept();
  return bound;
}

void HttpServer::stop() { state_->stop(); }

std::size_t HttpServer::connections() const { return state_->open.load(); }

}  // namespace workers
