// HttpSession's writing half: responses, server-sent event streams, and closing (at once, or after
// a closing answer with a short linger so that the answer is not lost to a reset).
#include "service/http_session.h"

#include <algorithm>
#include <exception>
#include <string_view>

#include <boost/asio/write.hpp>

#include "service/beast_names.h"
#include "utilities/logging.h"

namespace workers {
namespace {

constexpr char kServerName[] = "sdxl-workers";
constexpr double kMaxLingerSeconds = 2.0;  // draining a client after an error answer

// Header names and values go on the wire as given: no line breaks may sneak in.
std::string strip_line_breaks(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c != '\r' && c != '\n' && c != '\0') out.push_back(c);
  }
  return out;
}

}  // namespace

void HttpSession::send_response(HttpResponse response) {
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

void HttpSession::start_events() {
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

void HttpSession::event(const std::string& name, const std::string& data) {
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

void HttpSession::end_events() {
  if (closed_ || phase_ != Phase::kStreaming || ending_) return;
  ending_ = true;
  flush();
}

void HttpSession::arm_write_deadline() {
  Duration write_limit;
  if (to_duration(core_->limits.write_timeout_seconds, write_limit)) {
    stream_.expires_after(write_limit);
  } else {
    stream_.expires_never();
  }
}

void HttpSession::write_response(std::shared_ptr<http::response<http::string_body>> res) {
  phase_ = Phase::kWriting;
  arm_write_deadline();
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
void HttpSession::flush() {
  if (writing_ || closed_) return;
  if (out_.empty()) {
    if (ending_) linger_close();
    return;
  }
  writing_ = true;
  arm_write_deadline();
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
void HttpSession::watch_peer() {
  if (watching_) return;
  watching_ = true;
  auto self = shared_from_this();
  stream_.socket().async_read_some(asio::buffer(drain_), [self](const beast::error_code& ec, std::size_t) {
    self->watching_ = false;
    if (ec) {
      self->close_now();
      return;
    }
    if (self->stream_.socket().is_open()) self->watch_peer();
  });
}

// After the last byte of a closing answer: FIN, then drain what the client still sends for a
// moment, so that the answer is not lost to a reset from unread request bytes.
void HttpSession::linger_close() {
  mark_closed();
  phase_ = Phase::kClosing;
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  if (ec) {
    close_now();
    return;
  }
  Duration linger;
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

void HttpSession::close_now() {
  mark_closed();
  timer_.cancel();
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
  stream_.close();
}

void HttpSession::add_on_close(std::function<void()> done) {
  if (!done) return;
  if (closed_) {
    run_callback(done);
  } else {
    on_close_.push_back(std::move(done));
  }
}

void HttpSession::run_callback(const std::function<void()>& done) {
  try {
    done();
  } catch (const std::exception& e) {
    get_logger()->warn("http: an on_close callback threw: {}", e.what());
  } catch (...) {
    get_logger()->warn("http: an on_close callback threw");
  }
}

void HttpSession::mark_closed() {
  if (closed_) return;
  closed_ = true;
  if (counted_) --core_->open;
  auto callbacks = std::move(on_close_);
  on_close_.clear();
  for (const auto& done : callbacks) run_callback(done);
}

}  // namespace workers
