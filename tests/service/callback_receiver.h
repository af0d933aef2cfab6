// Test helper: a callback target. A Python stdlib HTTP server (child process, 127.0.0.1, a free
// port) that records every POST as one JSON line {path, body, status, attempt} and answers 200
// {"ok":true}; the first `fail_first_n` requests to each distinct path answer 500, and paths
// starting with /gone always answer 404. Throws std::runtime_error (the test fails) when
// /usr/bin/python3 is missing or the server does not start.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace workers::testing_support {

class CallbackReceiver {
 public:
  static constexpr const char* kPython = "/usr/bin/python3";

  explicit CallbackReceiver(int fail_first_n = 0) {
    if (::access(kPython, X_OK) != 0) {
      throw std::runtime_error(std::string("CallbackReceiver: ") + kPython +
                               " is missing (the callback tests need Python 3's http.server)");
    }
    char dir_template[] = "/tmp/sdxl-callback-receiver-XXXXXX";
    if (::mkdtemp(dir_template) == nullptr) {
      throw std::runtime_error(std::string("CallbackReceiver: mkdtemp failed: ") +
                               std::strerror(errno));
    }
    dir_ = dir_template;
    script_ = dir_ + "/receiver.py";
    log_ = dir_ + "/received.jsonl";
    {
      std::ofstream script(script_);
      script << kScript;
      if (!script) fail("cannot write " + script_);
    }
    std::ofstream(log_).flush();  // exists (empty) before the first request

    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) fail(std::string("pipe2 failed: ") + std::strerror(errno));
    const std::string fail_n = std::to_string(fail_first_n);
    std::vector<char*> argv = {const_cast<char*>(kPython), const_cast<char*>(script_.c_str()),
                               const_cast<char*>(log_.c_str()), const_cast<char*>(fail_n.c_str()),
                               nullptr};
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ < 0) {
      ::close(out[0]);
      ::close(out[1]);
      fail(std::string("fork failed: ") + std::strerror(errno));
    }
    if (pid_ == 0) {  // child: async-signal-safe calls only until exec
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (::getppid() != parent) ::_exit(1);
      ::dup2(out[1], STDOUT_FILENO);
#ifdef SYS_close_range
      ::syscall(SYS_close_range, 3U, ~0U, 0U);  // no test sockets leak into the server
#endif
      ::execv(kPython, argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    std::string first_line;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (first_line.find('\n') == std::string::npos) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                            deadline - std::chrono::steady_clock::now())
                            .count();
      if (left <= 0) break;
      pollfd fd{out[0], POLLIN, 0};
      const int ready = ::poll(&fd, 1, static_cast<int>(left));
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0) break;
      char buffer[256];
      const ssize_t n = ::read(out[0], buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      first_line.append(buffer, static_cast<std::size_t>(n));
    }
    ::close(out[0]);
    try {
      port_ = std::stoi(first_line);
    } catch (const std::exception&) {
      port_ = 0;
    }
    if (port_ <= 0 || port_ > 65535) {
      fail("the Python server did not report its port (got \"" + first_line + "\")");
    }
  }

  ~CallbackReceiver() { stop(); }

  CallbackReceiver(const CallbackReceiver&) = delete;
  CallbackReceiver& operator=(const CallbackReceiver&) = delete;

  int port() const { return port_; }
  std::string host_port() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string url(const std::string& path = "/callback") const {
    return "http://" + host_port() + path;
  }

  // Every request so far, in arrival order: {"path", "body" (parsed JSON, or the raw text when it
  // was not JSON), "status" (what was answered), "attempt" (the request's number on its path)}.
  std::vector<nlohmann::json> received() const {
    std::vector<nlohmann::json> out;
    std::ifstream file(log_, std::ios::binary);
    std::stringstream buffer;
    buffer << file.rdbuf();
    const std::string text = buffer.str();
    std::size_t start = 0;
    for (std::size_t end; (end = text.find('\n', start)) != std::string::npos; start = end + 1) {
      if (end > start) out.push_back(nlohmann::json::parse(text.substr(start, end - start)));
    }
    return out;  // a line still being written (no newline yet) is left for the next call
  }
  std::size_t count() const { return received().size(); }

  // Waits until at least `n` requests arrived; false after `timeout_seconds`.
  bool wait_for_count(std::size_t n, double timeout_seconds = 10) const {
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_seconds);
    while (count() < n) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
  }

 private:
  static constexpr const char* kScript = R"PY(
import http.server, json, sys, threading

log_path, fail_first_n = sys.argv[1], int(sys.argv[2])
lock = threading.Lock()
counts = {}

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        try:
            body = json.loads(raw.decode("utf-8"))
        except Exception:
            body = raw.decode("utf-8", "replace")
        with lock:
            counts[self.path] = counts.get(self.path, 0) + 1
            attempt = counts[self.path]
            if self.path.startswith("/gone"):
                status = 404
            elif attempt <= fail_first_n:
                status = 500
            else:
                status = 200
            with open(log_path, "a", encoding="utf-8") as log:
                log.write(json.dumps({"path": self.path, "body": body, "status": status,
                                      "attempt": attempt}) + "\n")
                log.flush()
        answer = b'{"ok":true}' if status == 200 else json.dumps({"ok": False, "status": status}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)
        self.wfile.flush()

    def log_message(self, format, *args):
        pass

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
sys.stdout.write("%d\n" % server.server_address[1])
sys.stdout.flush()
server.serve_forever()
)PY";

  [[noreturn]] void fail(const std::string& message) {
    stop();
    throw std::runtime_error("CallbackReceiver: " + message);
  }

  void stop() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
      for (;;) {
        const pid_t done = ::waitpid(pid_, nullptr, WNOHANG);
        if (done == pid_ || (done < 0 && errno != EINTR)) break;
        if (std::chrono::steady_clock::now() >= deadline) {
          ::kill(pid_, SIGKILL);
          ::waitpid(pid_, nullptr, 0);
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      pid_ = -1;
    }
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
      dir_.clear();
    }
  }

  std::string dir_, script_, log_;
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace workers::testing_support
