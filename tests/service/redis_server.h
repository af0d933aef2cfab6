// RedisServer: a real redis-server for one test, on a unix socket (or a free loopback port) in a
// fresh temporary directory, stopped and removed with the object. No redis-server: the test fails.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "service/redis_client.h"

extern char** environ;

namespace workers::testing_support {

struct RedisServerOptions {
  bool tcp = false;      // url() is redis://127.0.0.1:PORT/0 instead of unix://DIR/redis.sock
  std::string password;  // --requirepass; url() carries it
};

class RedisServer {
 public:
  explicit RedisServer(RedisServerOptions options = {}) : options_(std::move(options)) {
    executable_ = find_executable();
    if (executable_.empty()) {
      fail(
          "redis-server is not installed (not on PATH, nor /usr/bin/redis-server); setup.sh "
          "installs it (apt-get install redis-server)");
    }
    std::string base = ::testing::TempDir();
    if (base.empty()) base = "/tmp/";
    if (base.back() != '/') base += '/';
    // A unix socket path holds at most 107 bytes.
    if (base.size() + std::string("sdxl-redis-XXXXXX/redis.sock").size() > 100) base = "/tmp/";
    std::string pattern = base + "sdxl-redis-XXXXXX";
    std::vector<char> buffer(pattern.begin(), pattern.end());
    buffer.push_back('\0');
    if (mkdtemp(buffer.data()) == nullptr)
      fail("cannot create a temporary directory under " + base);
    dir_ = buffer.data();
    try {
      if (options_.tcp) port_ = free_port();
      start();
    } catch (...) {
      std::error_code ignored;
      std::filesystem::remove_all(dir_, ignored);
      throw;
    }
  }

  ~RedisServer() {
    stop();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  std::string socket_path() const { return dir_ + "/redis.sock"; }
  const std::string& dir() const { return dir_; }
  pid_t pid() const { return pid_; }
  int port() const { return port_; }

  std::string url() const {
    if (options_.tcp) {
      std::string auth = options_.password.empty() ? "" : ":" + options_.password + "@";
      return "redis://" + auth + "127.0.0.1:" + std::to_string(port_) + "/0";
    }
    std::string query = options_.password.empty() ? "" : "?password=" + options_.password;
    return "unix://" + socket_path() + query;
  }

  // SIGTERM and wait (SIGKILL after 5 s). The directory stays, so start() can run it again on the
  // same socket / port.
  void stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    int status = 0;
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    pid_ = -1;
  }

  // Spawns redis-server and waits (up to 10 s) until it answers PING.
  void start() {
    if (pid_ > 0) return;
    std::vector<std::string> args = {executable_, "--port",
                                     std::to_string(options_.tcp ? port_ : 0)};
    args.insert(args.end(), {"--unixsocket", socket_path(), "--unixsocketperm", "700"});
    args.insert(args.end(), {"--save", "", "--appendonly", "no", "--dir", dir_});
    args.insert(args.end(), {"--daemonize", "no", "--logfile", log_path()});
    if (options_.tcp) args.insert(args.end(), {"--bind", "127.0.0.1"});
    if (!options_.password.empty()) args.insert(args.end(), {"--requirepass", options_.password});
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path().c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0600);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    pid_t pid = -1;
    int rc = posix_spawn(&pid, executable_.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) fail("cannot start " + executable_ + ": " + std::strerror(rc));
    pid_ = pid;

    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    std::string last_error;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        fail("redis-server exited during startup; its log:\n" + log());
      }
      try {
        RedisClient client(parse_redis_url(url()), 0.5);
        if (client.command({"PING"}).str() == "PONG") return;
      } catch (const std::exception& error) {
        last_error = error.what();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    stop();
    fail("redis-server did not answer PING within 10 s (" + last_error + "); its log:\n" + log());
  }

  std::string log() const {
    std::ifstream in(log_path());
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

 private:
  std::string log_path() const { return dir_ + "/redis.log"; }

  // The fixture has no return value to ASSERT on: record the failure and abandon the test.
  [[noreturn]] void fail(const std::string& message) {
    ADD_FAILURE() << "RedisServer: " << message;
    throw std::runtime_error("RedisServer: " + message);
  }

  static std::string find_executable() {
    std::vector<std::string> candidates;
    if (const char* path = std::getenv("PATH")) {
      std::stringstream dirs(path);
      for (std::string dir; std::getline(dirs, dir, ':');) {
        if (!dir.empty()) candidates.push_back(dir + "/redis-server");
      }
    }
    candidates.insert(candidates.end(), {"/usr/bin/redis-server", "/usr/local/bin/redis-server",
                                         "/usr/sbin/redis-server"});
    for (const auto& candidate : candidates) {
      struct stat info {};
      if (stat(candidate.c_str(), &info) == 0 && S_ISREG(info.st_mode) &&
          access(candidate.c_str(), X_OK) == 0) {
        return candidate;
      }
    }
    return {};
  }

  // A loopback port nobody listens on: bind port 0, read it, close.
  int free_port() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) fail("socket() failed");
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    socklen_t length = sizeof address;
    if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      close(fd);
      fail("cannot find a free loopback port");
    }
    close(fd);
    return ntohs(address.sin_port);
  }

  RedisServerOptions options_;
  std::string executable_;
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace workers::testing_support
