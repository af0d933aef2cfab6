// HttpServer: an HTTP/1.1 server (Boost.Beast) on the engine's Asio loop. It parses requests with
// limits (body, headers), puts a deadline on every read and write, and hands each request to one
// handler, which answers at once or later (long polls) or streams server-sent events. Handlers and
// replies run on the loop's thread only.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "utilities/error.h"

namespace workers {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as sent: "/jobs/abc?x=1"
  std::string path;    // "/jobs/abc" (percent-decoded)
  std::map<std::string, std::string> query;  // "?wait=true&x" -> {wait: true, x: ""} (decoded)
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string remote;  // peer address "127.0.0.1:50412"
  std::string header(const std::string& lower_name) const;  // "" when absent
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// A JSON response: `body` dumped (invalid UTF-8 replaced).
HttpResponse json_response(int status, const nlohmann::json& body);
// The protocol's error envelope (communication/envelope.h) with `status`.
HttpResponse error_response(int status, const Error& error, const std::string& request_id = "");

// The answer to one request. send() or the event stream may come later, from the loop thread;
// after the peer has gone, they do nothing.
class HttpReply {
 public:
  virtual ~HttpReply() = default;
  virtual void send(HttpResponse response) = 0;
  // Server-sent events: answers 200 text/event-stream (no keep-alive), then each event is
  // written as "event: NAME\ndata: DATA\n\n" (DATA on one line). end_events() closes.
  virtual void start_events() = 0;
  virtual void event(const std::string& name, const std::string& data) = 0;
  virtual void end_events() = 0;
  // True once the connection is gone (peer closed, timed out, server stopped).
  virtual bool closed() const = 0;
  // Runs once when the connection goes away (so a handler can drop its subscription).
  virtual void on_close(std::function<void()> done) = 0;
};

using HttpHandler = std::function<void(const HttpRequest& request, std::shared_ptr<HttpReply> reply)>;

struct HttpServerLimits {
  std::size_t max_body_bytes = 16u << 20;
  std::size_t max_header_bytes = 16u << 10;
  double read_timeout_seconds = 30;   // from a request's first byte (or the connection) to its end
  double idle_timeout_seconds = 60;   // between keep-alive requests
  double write_timeout_seconds = 30;  // one response (or one event) written
  std::size_t max_connections = 256;
};

class HttpServer {
 public:
  HttpServer(boost::asio::io_context& io, HttpServerLimits limits, HttpHandler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts accepting (call from any thread before the loop runs, or on it). Port 0 picks
  // a free port; returns the bound port. Throws Error(CONFIG_ERROR, field "port") when the
  // address cannot be bound (naming it and the system's reason).
  unsigned short listen(const std::string& host, unsigned short port);
  // Stops accepting and closes every connection (event streams included). Loop thread or before it
  // runs; idempotent.
  void stop();
  std::size_t connections() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace workers
