// Test helpers for the HTTP tests on loopback: a blocking raw-socket client that sends exactly the
// bytes a test wants and reads answers back, and a listener that never accepts (a silent server).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstddef>
#include <string>

#include <gtest/gtest.h>

namespace workers::testing_support {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// A blocking loopback client on plain sockets, to send exactly the bytes a test wants.
class RawClient {
 public:
  explicit RawClient(unsigned short port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = fd_ >= 0 && ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  }
  ~RawClient() { close(); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  bool connected() const { return connected_; }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  bool send(const std::string& data) {
    std::size_t sent = 0;
    while (sent < data.size()) {
      ssize_t n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<std::size_t>(n);
    }
    return true;
  }

  // True when bytes (or EOF) can be read within `timeout` seconds.
  bool readable(double timeout) {
    pollfd entry{fd_, POLLIN, 0};
    return ::poll(&entry, 1, static_cast<int>(timeout * 1000)) > 0;
  }

  // Everything until the server closes; `closed` says whether it did within `timeout` seconds.
  std::string read_until_close(double timeout, bool* closed = nullptr) {
    auto start = Clock::now();
    bool eof = false;
    while (seconds_since(start) < timeout) {
      if (!readable(timeout - seconds_since(start))) break;
      if (!read_more()) {
        eof = true;
        break;
      }
    }
    if (closed) *closed = eof;
    std::string out = std::move(pending_);
    pending_.clear();
    return out;
  }

  // Reads until `needle` has arrived (or `timeout` seconds); returns all read so far.
  std::string read_until(const std::string& needle, double timeout) {
    auto start = Clock::now();
    while (pending_.find(needle) == std::string::npos && seconds_since(start) < timeout) {
      if (!readable(timeout - seconds_since(start)) || !read_more()) break;
    }
    return pending_;
  }

  // One response framed by its Content-Length; "" when it does not come whole within `timeout`.
  std::string read_response(double timeout = 5) {
    auto start = Clock::now();
    while (true) {
      std::size_t head_end = pending_.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        std::size_t length = content_length(pending_.substr(0, head_end));
        std::size_t total = head_end + 4 + length;
        if (pending_.size() >= total) {
          std::string out = pending_.substr(0, total);
          pending_.erase(0, total);
          return out;
        }
      }
      if (seconds_since(start) >= timeout || !readable(timeout - seconds_since(start)) || !read_more()) return "";
    }
  }

 private:
  static std::size_t content_length(const std::string& head) {
    std::string lower;
    for (char c : head) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    std::size_t at = lower.find("\r\ncontent-length:");
    return at == std::string::npos ? 0 : std::stoul(head.substr(at + 17));
  }

  bool read_more() {
    char buffer[4096];
    ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
    if (n <= 0) return false;
    pending_.append(buffer, static_cast<std::size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  std::string pending_;
};

inline int status_of(const std::string& response) {
  return response.size() > 12 && response.compare(0, 9, "HTTP/1.1 ") == 0 ? std::stoi(response.substr(9, 3)) : 0;
}

inline std::string body_of(const std::string& response) {
  std::size_t at = response.find("\r\n\r\n");
  return at == std::string::npos ? "" : response.substr(at + 4);
}

// A listening socket that never accepts: the kernel completes handshakes, nobody answers.
struct SilentListener {
  SilentListener() {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    EXPECT_EQ(::listen(fd, 8), 0);
    socklen_t size = sizeof address;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size);
    port = ntohs(address.sin_port);
  }
  ~SilentListener() { close(); }
  void close() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  int fd = -1;
  unsigned short port = 0;
};

}  // namespace workers::testing_support
