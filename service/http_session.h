// Internal to service/http_server*.cpp: the server core the sessions share and HttpSession, one
// HTTP/1.1 connection (Boost.Beast). Everything here runs on the server's loop thread.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "service/http_server.h"

namespace workers {

class HttpSession;

// What the sessions share with the server: the limits, the handler, the live connections.
struct HttpServerCore : std::enable_shared_from_this<HttpServerCore> {
  HttpServerCore(boost::asio::io_context& io_context, HttpServerLimits server_limits, HttpHandler request_handler)
      : io(io_context),
        limits(server_limits),
        handler(std::move(request_handler)),
        acceptor(io_context),
        accept_retry(io_context) {}

  void accept();
  void stop();

  boost::asio::io_context& io;
  HttpServerLimits limits;
  HttpHandler handler;
  boost::asio::ip::tcp::acceptor acceptor;
  boost::asio::steady_timer accept_retry;
  std::vector<std::weak_ptr<HttpSession>> sessions;  // loop thread only
  std::atomic<std::size_t> open{0};                  // sessions counted against max_connections
  std::atomic<bool> stopped{false};
};

// One connection: reads a request under its limits and deadline, hands it to the handler with an
// HttpReply, writes the answer (at once, later, or as server-sent events), then waits for the next
// keep-alive request. The reading half is in http_session.cpp, the writing half (responses, event
// streams, closing) in http_session_write.cpp.
class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  using Duration = boost::asio::steady_timer::duration;

  HttpSession(std::shared_ptr<HttpServerCore> core, boost::asio::ip::tcp::socket socket);
  ~HttpSession() { mark_closed(); }

  // A counted connection: its first request's deadline runs from now.
  void start();
  // Over max_connections: 503, then close.
  void reject();
  // stop(), a failed write, the peer gone: closes at once.
  void close_now();
  bool closed() const { return closed_; }
  void add_on_close(std::function<void()> done);

  // What HttpReply forwards (the handler's answer); ignored once closed or answered.
  void send_response(HttpResponse response);
  void start_events();
  void event(const std::string& name, const std::string& data);
  void end_events();
  // The handler dropped its reply without answering: a 500 rather than a client waiting forever.
  void abandoned();

  // Seconds as a timer duration; false when there is no deadline (zero, negative, NaN).
  static bool to_duration(double seconds, Duration& out);

 private:
  enum class Phase { kReading, kHandling, kWriting, kStreaming, kIdle, kClosing };

  // reading (http_session.cpp)
  void arm_read_deadline();
  void disarm_read_deadline();
  void wait_for_request();
  void read_request();
  void on_header(const boost::beast::error_code& ec);
  void read_body();
  void on_read_error(const boost::beast::error_code& ec);
  void on_request();
  void fail(int status, const Error& error);

  // writing and closing (http_session_write.cpp)
  void arm_write_deadline();
  void write_response(std::shared_ptr<boost::beast::http::response<boost::beast::http::string_body>> res);
  void flush();
  void watch_peer();
  void linger_close();
  void mark_closed();
  static void run_callback(const std::function<void()>& done);

  std::shared_ptr<HttpServerCore> core_;
  boost::beast::tcp_stream stream_;
  boost::asio::steady_timer timer_;  // the request's read deadline, then the closing linger
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
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

}  // namespace workers
