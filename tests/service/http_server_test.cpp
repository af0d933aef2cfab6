// HttpServer on loopback, driven by the HTTP client and raw sockets: routing, keep-alive, deferred
// answers, server-sent events, the limits and deadlines (413, 431, 400, 408, 503) and stop().
#include "service/http_server.h"

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <gtest/gtest.h>

#include "service/http_client.h"
#include "service/loopback_sockets.h"

namespace workers {
namespace {
using nlohmann::json;
using testing_support::body_of;
using testing_support::Clock;
using testing_support::RawClient;
using testing_support::seconds_since;
using testing_support::status_of;

HttpServerLimits quick_limits() {
  HttpServerLimits limits;
  limits.read_timeout_seconds = 5;
  limits.idle_timeout_seconds = 5;
  limits.write_timeout_seconds = 5;
  return limits;
}

class HttpServerTest : public ::testing::Test {
 protected:
  void start(HttpServerLimits limits = quick_limits()) {
    server_ = std::make_unique<HttpServer>(
        io_, limits, [this](const HttpRequest& request, std::shared_ptr<HttpReply> reply) { handle(request, reply); });
    port_ = server_->listen("127.0.0.1", 0);
    ASSERT_NE(port_, 0);
    loop_ = std::thread([this] { io_.run(); });
  }

  void TearDown() override {
    if (!loop_.joinable()) return;
    on_loop([this] {
      held_.clear();
      server_->stop();
    });
    guard_.reset();
    io_.stop();
    loop_.join();
  }

  template <class F>
  void on_loop(F f) {
    std::promise<void> done;
    boost::asio::post(io_, [&] {
      f();
      done.set_value();
    });
    done.get_future().wait();
  }

  std::string url(const std::string& target) const { return "http://127.0.0.1:" + std::to_string(port_) + target; }

  // Waits (briefly) for a condition the loop thread makes true.
  template <class F>
  bool eventually(F condition, double timeout = 3) {
    auto start = Clock::now();
    while (!condition()) {
      if (seconds_since(start) > timeout) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
  }

  void handle(const HttpRequest& request, const std::shared_ptr<HttpReply>& reply) {
    const std::string& path = request.path;
    if (path.rfind("/echo", 0) == 0) {
      reply->send(json_response(200, {{"method", request.method},
                                      {"path", request.path},
                                      {"target", request.target},
                                      {"query", request.query},
                                      {"body", request.body},
                                      {"authorization", request.header("authorization")},
                                      {"content_type", request.header("content-type")},
                                      {"remote", request.remote}}));
    } else if (path == "/later") {
      auto timer = std::make_shared<boost::asio::steady_timer>(io_, std::chrono::milliseconds(100));
      timer->async_wait([timer, reply](const boost::system::error_code&) {
        reply->send(json_response(200, {{"later", true}}));
        reply->send(json_response(500, {{"second", true}}));  // ignored
      });
    } else if (path == "/events") {
      reply->start_events();
      for (int step = 1; step <= 3; ++step) reply->event("progress", json{{"step", step}}.dump());
      reply->end_events();
    } else if (path == "/events-dropped") {  // the handler forgets to end the stream
      reply->event("only", "line 1\nline 2");
    } else if (path == "/stream") {  // ticks until the client goes away
      reply->on_close([this] { ++closed_callbacks_; });
      reply->start_events();
      reply->event("hello", "{}");
      auto timer = std::make_shared<boost::asio::steady_timer>(io_);
      auto tick = std::make_shared<std::function<void()>>();
      *tick = [timer, reply, weak_tick = std::weak_ptr<std::function<void()>>(tick)] {
        timer->expires_after(std::chrono::milliseconds(50));
        timer->async_wait([timer, reply, weak_tick](const boost::system::error_code& ec) {
          if (ec || reply->closed()) return;
          reply->event("tick", "{}");
          if (auto next = weak_tick.lock()) (*next)();
        });
      };
      ticks_.push_back(tick);
      (*tick)();
    } else if (path == "/hold") {  // never answered until the server stops
      reply->on_close([this] { ++closed_callbacks_; });
      held_.push_back(reply);
      ++held_count_;
    } else if (path == "/drop") {
      // the reply goes out of scope unanswered
    } else if (path == "/throw") {
      throw Error(ErrorCode::kInvalidPrompt, "prompt: cannot be read", "prompt");
    } else {
      reply->send(error_response(404, Error(ErrorCode::kInvalidRequest, "path: no route for " + path, "path"),
                                 request.header("x-request-id")));
    }
  }

  boost::asio::io_context io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard_{
      boost::asio::make_work_guard(io_)};
  std::unique_ptr<HttpServer> server_;
  std::thread loop_;
  unsigned short port_ = 0;
  std::atomic<int> closed_callbacks_{0};
  std::atomic<int> held_count_{0};
  std::vector<std::shared_ptr<HttpReply>> held_;                 // loop thread
  std::vector<std::shared_ptr<std::function<void()>>> ticks_;  // loop thread
};

TEST_F(HttpServerTest, GetAndPostRoundTrip) {
  start();
  auto got = http_request("GET", url("/echo"), "", 5);
  EXPECT_EQ(got.status, 200);
  EXPECT_EQ(got.headers["server"], "sdxl-workers");
  EXPECT_EQ(got.headers["content-type"], "application/json");
  auto body = json::parse(got.body);
  EXPECT_EQ(body["method"], "GET");
  EXPECT_EQ(body["path"], "/echo");
  EXPECT_EQ(body["body"], "");
  EXPECT_EQ(body["remote"].get<std::string>().rfind("127.0.0.1:", 0), 0u);

  auto posted = http_request("POST", url("/echo"), R"({"prompt":"a cat"})", 5, {{"Authorization", "Bearer t0k"}});
  EXPECT_EQ(posted.status, 200);
  body = json::parse(posted.body);
  EXPECT_EQ(body["method"], "POST");
  EXPECT_EQ(body["body"], R"({"prompt":"a cat"})");
  EXPECT_EQ(body["authorization"], "Bearer t0k");
  EXPECT_EQ(body["content_type"], "application/json");

  auto missing = http_request("GET", url("/nowhere"), "", 5, {{"X-Request-Id", "r-1"}});
  EXPECT_EQ(missing.status, 404);
  body = json::parse(missing.body);
  EXPECT_EQ(body["success"], false);
  EXPECT_EQ(body["request_id"], "r-1");
  EXPECT_EQ(body["message_type"], "error_response");
  EXPECT_EQ(body["error"]["code"], "INVALID_REQUEST");
  EXPECT_EQ(body["error"]["field"], "path");
}

TEST_F(HttpServerTest, DecodesPathAndQuery) {
  start();
  auto got = http_request("GET", url("/echo/a%20b%2Fc?x=1&flag&name=J%C3%BCrgen+M&eq=a%3Db&&"), "", 5);
  ASSERT_EQ(got.status, 200);
  auto body = json::parse(got.body);
  EXPECT_EQ(body["path"], "/echo/a b/c");
  EXPECT_EQ(body["target"], "/echo/a%20b%2Fc?x=1&flag&name=J%C3%BCrgen+M&eq=a%3Db&&");
  EXPECT_EQ(body["query"], (json{{"x", "1"}, {"flag", ""}, {"name", "J\xC3\xBCrgen M"}, {"eq", "a=b"}}));

  for (const char* bad : {"/echo%zz", "/echo%4", "/echo?q=%4", "/echo?%G1=x"}) {
    auto rejected = http_request("GET", url(bad), "", 5);
    EXPECT_EQ(rejected.status, 400) << bad;
    EXPECT_EQ(json::parse(rejected.body)["error"]["field"], "target") << bad;
  }
}

TEST_F(HttpServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  start();
  RawClient client(port_);
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.send("GET /echo?n=1 HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string first = client.read_response();
  EXPECT_EQ(status_of(first), 200);
  EXPECT_EQ(first.find("Connection: close"), std::string::npos);
  EXPECT_EQ(json::parse(body_of(first))["query"]["n"], "1");

  ASSERT_TRUE(client.send("POST /echo?n=2 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"));
  std::string second = client.read_response();
  EXPECT_EQ(json::parse(body_of(second))["body"], "hi");
  EXPECT_EQ(server_->connections(), 1u);

  // Pipelined: both answered, in order; the last asks to close.
  ASSERT_TRUE(client.send("GET /echo?n=3 HTTP/1.1\r\nHost: x\r\n\r\nGET /echo?n=4 HTTP/1.1\r\nHost: x\r\n"
                          "Connection: close\r\n\r\n"));
  EXPECT_EQ(json::parse(body_of(client.read_response()))["query"]["n"], "3");
  std::string last = client.read_response();
  EXPECT_EQ(json::parse(body_of(last))["query"]["n"], "4");
  EXPECT_NE(last.find("Connection: close"), std::string::npos);
  bool closed = false;
  EXPECT_EQ(client.read_until_close(3, &closed), "");
  EXPECT_TRUE(closed);
}

TEST_F(HttpServerTest, AnswersLaterFromATimerAndIgnoresASecondSend) {
  start();
  auto begin = Clock::now();
  auto got = http_request("GET", url("/later"), "", 5);
  EXPECT_GE(seconds_since(begin), 0.09);
  EXPECT_EQ(got.status, 200);
  EXPECT_EQ(json::parse(got.body), (json{{"later", true}}));
}

TEST_F(HttpServerTest, HandlerFailuresBecomeErrorResponses) {
  start();
  auto dropped = http_request("GET", url("/drop"), "", 5);
  EXPECT_EQ(dropped.status, 500);
  EXPECT_EQ(json::parse(dropped.body)["error"]["code"], "INTERNAL_ERROR");
  auto thrown = http_request("GET", url("/throw"), "", 5);
  EXPECT_EQ(thrown.status, 500);
  EXPECT_EQ(json::parse(thrown.body)["error"]["code"], "INVALID_PROMPT");
  EXPECT_EQ(json::parse(thrown.body)["error"]["field"], "prompt");
}

TEST_F(HttpServerTest, StreamsServerSentEventsThenCloses) {
  start();
  auto got = http_request("GET", url("/events"), "", 5);
  EXPECT_EQ(got.status, 200);
  EXPECT_EQ(got.headers["content-type"], "text/event-stream");
  EXPECT_EQ(got.headers["cache-control"], "no-cache");
  EXPECT_EQ(got.headers.count("content-length"), 0u);
  EXPECT_EQ(got.body,
            "event: progress\ndata: {\"step\":1}\n\n"
            "event: progress\ndata: {\"step\":2}\n\n"
            "event: progress\ndata: {\"step\":3}\n\n");
}

TEST_F(HttpServerTest, DroppingAnEventStreamEndsIt) {
  start();
  auto got = http_request("GET", url("/events-dropped"), "", 5);
  EXPECT_EQ(got.status, 200);
  EXPECT_EQ(got.body, "event: only\ndata: line 1\ndata: line 2\n\n");
}

TEST_F(HttpServerTest, EventStreamNoticesTheClientLeaving) {
  start();
  {
    RawClient client(port_);
    ASSERT_TRUE(client.send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"));
    std::string seen = client.read_until("event: tick\ndata: {}\n\n", 3);
    EXPECT_NE(seen.find("Content-Type: text/event-stream"), std::string::npos) << seen;
    EXPECT_NE(seen.find("event: hello\ndata: {}\n\n"), std::string::npos) << seen;
    EXPECT_EQ(closed_callbacks_, 0);
  }
  EXPECT_TRUE(eventually([&] { return closed_callbacks_ == 1; }));
  EXPECT_TRUE(eventually([&] { return server_->connections() == 0; }));
}

TEST_F(HttpServerTest, OversizedBodyGets413AndTheServerGoesOn) {
  auto limits = quick_limits();
  limits.max_body_bytes = 1024;
  start(limits);
  auto got = http_request("POST", url("/echo"), std::string(4096, 'x'), 5);
  EXPECT_EQ(got.status, 413);
  auto body = json::parse(got.body);
  EXPECT_EQ(body["error"]["code"], "INVALID_REQUEST");
  EXPECT_EQ(body["error"]["field"], "body");
  EXPECT_NE(body["error"]["message"].get<std::string>().find("exceeds 1024 bytes"), std::string::npos);

  // Chunked, no Content-Length up front: cut when the limit is crossed.
  RawClient client(port_);
  ASSERT_TRUE(client.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n" +
                          std::string(2048, 'y') + "\r\n0\r\n\r\n"));
  bool closed = false;
  std::string raw = client.read_until_close(3, &closed);
  EXPECT_EQ(status_of(raw), 413);
  EXPECT_TRUE(closed);

  EXPECT_EQ(http_request("POST", url("/echo"), std::string(1024, 'x'), 5).status, 200);
}

TEST_F(HttpServerTest, HugeHeadersGet431) {
  auto limits = quick_limits();
  limits.max_header_bytes = 1024;
  start(limits);
  auto got = http_request("GET", url("/echo"), "", 5, {{"X-Big", std::string(4000, 'h')}});
  EXPECT_EQ(got.status, 431);
  EXPECT_EQ(json::parse(got.body)["error"]["field"], "headers");
  EXPECT_EQ(http_request("GET", url("/echo"), "", 5).status, 200);
}

TEST_F(HttpServerTest, GarbageGets400AndClose) {
  start();
  RawClient client(port_);
  ASSERT_TRUE(client.send("NOT HTTP\r\n\r\n"));
  bool closed = false;
  std::string raw = client.read_until_close(3, &closed);
  EXPECT_EQ(status_of(raw), 400);
  EXPECT_EQ(json::parse(body_of(raw))["error"]["code"], "INVALID_REQUEST");
  EXPECT_TRUE(closed);
}

TEST_F(HttpServerTest, SlowLorisGets408WhileOthersAreServed) {
  auto limits = quick_limits();
  limits.read_timeout_seconds = 0.5;
  start(limits);
  auto begin = Clock::now();
  RawClient slow(port_);
  ASSERT_TRUE(slow.send("GET /echo HTTP/1.1\r\nHost: x\r\n"));
  for (int drip = 0; drip < 30 && !slow.readable(0.1); ++drip) {
    slow.send("X-Drip: 1\r\n");  // a byte now and then does not extend the deadline
    if (drip == 1) {
      auto served = Clock::now();
      EXPECT_EQ(http_request("GET", url("/echo"), "", 2).status, 200);
      EXPECT_LT(seconds_since(served), 0.4);  // well inside the slow client's 0.5 s
    }
  }
  bool closed = false;
  std::string raw = slow.read_until_close(3, &closed);
  double elapsed = seconds_since(begin);
  EXPECT_EQ(status_of(raw), 408);
  EXPECT_NE(body_of(raw).find("not received whole within 0.5 s"), std::string::npos) << raw;
  EXPECT_TRUE(closed);
  EXPECT_GE(elapsed, 0.45);
  EXPECT_LT(elapsed, 2.0);
}

TEST_F(HttpServerTest, IdleKeepAliveConnectionClosesSilently) {
  auto limits = quick_limits();
  limits.idle_timeout_seconds = 0.3;
  start(limits);
  RawClient client(port_);
  ASSERT_TRUE(client.send("GET /echo HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(status_of(client.read_response()), 200);
  auto begin = Clock::now();
  bool closed = false;
  EXPECT_EQ(client.read_until_close(3, &closed), "");
  EXPECT_TRUE(closed);
  EXPECT_GE(seconds_since(begin), 0.25);
  EXPECT_LT(seconds_since(begin), 1.5);
}

TEST_F(HttpServerTest, TooManyConnectionsGet503) {
  auto limits = quick_limits();
  limits.max_connections = 2;
  start(limits);
  auto first = std::make_unique<RawClient>(port_);
  RawClient second(port_);
  ASSERT_TRUE(eventually([&] { return server_->connections() == 2; }));
  auto refused = http_request("GET", url("/echo"), "", 5);
  EXPECT_EQ(refused.status, 503);
  EXPECT_EQ(refused.headers["retry-after"], "1");
  EXPECT_EQ(json::parse(refused.body)["error"]["code"], "WORKER_UNAVAILABLE");
  EXPECT_EQ(server_->connections(), 2u);

  first.reset();
  ASSERT_TRUE(eventually([&] { return server_->connections() == 1; }));
  EXPECT_EQ(http_request("GET", url("/echo"), "", 5).status, 200);
}

TEST_F(HttpServerTest, StopClosesEverything) {
  start();
  RawClient idle(port_);
  RawClient holding(port_);
  ASSERT_TRUE(holding.send("GET /hold HTTP/1.1\r\nHost: x\r\n\r\n"));
  RawClient streaming(port_);
  ASSERT_TRUE(streaming.send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(eventually([&] { return held_count_ == 1; }));
  ASSERT_TRUE(streaming.readable(3));
  ASSERT_EQ(server_->connections(), 3u);

  bool held_closed = false;
  on_loop([&] {
    server_->stop();
    server_->stop();  // idempotent
    held_closed = held_[0]->closed();
    held_[0]->send(json_response(200, {}));  // too late: nothing happens
  });
  EXPECT_TRUE(held_closed);
  EXPECT_EQ(closed_callbacks_, 2);
  EXPECT_EQ(server_->connections(), 0u);
  for (RawClient* client : {&idle, &holding, &streaming}) {
    bool closed = false;
    client->read_until_close(3, &closed);
    EXPECT_TRUE(closed);
  }
  EXPECT_FALSE(RawClient(port_).connected());
}

TEST_F(HttpServerTest, ListeningOnATakenPortIsAConfigError) {
  start();
  HttpServer other(io_, quick_limits(), [](const HttpRequest&, std::shared_ptr<HttpReply>) {});
  try {
    other.listen("127.0.0.1", port_);
    FAIL() << "listen on a taken port succeeded";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kConfigError);
    EXPECT_EQ(e.field(), "port");
    EXPECT_NE(std::string(e.what()).find("port: cannot listen on 127.0.0.1:" + std::to_string(port_) + ": "),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace workers
