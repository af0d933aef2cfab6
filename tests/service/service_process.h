// Test helper: runs `sdxl-workers http|worker ...` as a child process (the real executable), reads
// its first stdout line ({"event": "listening"|"consuming", ...}), keeps its stderr in a log file,
// and signals / reaps it.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace workers::testing_support {

class ServiceProcess {
 public:
  // `args`: after the executable; `env`: added to the environment; `log`: stderr goes there.
  ServiceProcess(std::vector<std::string> args, std::map<std::string, std::string> env, std::string log)
      : args_(std::move(args)), env_(std::move(env)), log_(std::move(log)) {
    start();
  }
  ~ServiceProcess() { kill_now(); }
  ServiceProcess(const ServiceProcess&) = delete;
  ServiceProcess& operator=(const ServiceProcess&) = delete;

  void start() {
    int out[2];
    if (pipe(out) != 0) throw std::runtime_error("pipe failed");
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], STDOUT_FILENO);
      const int err = open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (err >= 0) dup2(err, STDERR_FILENO);
      const int null = open("/dev/null", O_RDONLY);
      if (null >= 0) dup2(null, STDIN_FILENO);
      close(out[0]);
      close(out[1]);
      for (const auto& [name, value] : env_) setenv(name.c_str(), value.c_str(), 1);
      std::vector<char*> argv;
      std::string exe = SDXL_WORKERS_EXE;
      argv.push_back(exe.data());
      for (auto& a : args_) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(exe.c_str(), argv.data());
      _exit(127);
    }
    close(out[1]);
    out_ = out[0];
    first_line_ = read_line(60.0);
    try {
      ready_ = nlohmann::json::parse(first_line_);
    } catch (const std::exception&) {
      ready_ = nullptr;
    }
  }

  // The first stdout line, parsed (null when the process printed none: see log()).
  const nlohmann::json& ready() const { return ready_; }
  std::string url() const { return ready_.is_object() ? ready_.value("url", "") : ""; }
  pid_t pid() const { return pid_; }
  std::string log() const {
    std::ifstream in(log_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  void signal(int number) {
    if (pid_ > 0) ::kill(pid_, number);
  }
  // Waits for the exit; returns the exit status (128 + signal when killed), -1 on timeout.
  int wait(double seconds) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (pid_ > 0) {
      int status = 0;
      const pid_t done = waitpid(pid_, &status, WNOHANG);
      if (done == pid_) {
        pid_ = -1;
        if (out_ >= 0) close(out_);
        out_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      if (std::chrono::steady_clock::now() > deadline) return -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1;
  }
  void kill_now() {
    if (pid_ <= 0) return;
    signal(SIGKILL);
    wait(10);
  }

 private:
  std::string read_line(double seconds) {
    std::string line;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{out_, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      char c;
      if (::read(out_, &c, 1) != 1) break;
      if (c == '\n') return line;
      line += c;
    }
    return line;
  }

  std::vector<std::string> args_;
  std::map<std::string, std::string> env_;
  std::string log_;
  pid_t pid_ = -1;
  int out_ = -1;
  std::string first_line_;
  nlohmann::json ready_;
};

}  // namespace workers::testing_support

#include "service/http_client.h"

namespace workers::testing_support {

// The tiny test model and a fresh output folder for one service process.
inline std::map<std::string, std::string> tiny_service_env(const std::string& outputs) {
  return {{"SDXL_WORKERS_MODEL_ROOTS", SDXL_FIXTURES_DIR},
          {"SDXL_WORKERS_OUTPUT_ROOT", outputs},
          {"SDXL_WORKERS_LOG_LEVEL", "info"}};
}

inline std::string fresh_dir(const std::string& name) {
  std::string path = ::testing::TempDir() + "/" + name + "_" + std::to_string(::getpid()) + "_XXXXXX";
  if (!mkdtemp(path.data())) throw std::runtime_error("mkdtemp failed");
  char* real = realpath(path.c_str(), nullptr);  // TempDir() ends with '/': no "//" in paths compared
  std::string canonical = real ? real : path;
  std::free(real);
  return canonical;
}

struct Reply {
  int status = 0;
  nlohmann::json body;
  std::map<std::string, std::string> headers;
};

// One request; the body parsed as JSON (null when it is not JSON).
inline Reply call(const std::string& method, const std::string& url, const nlohmann::json& body = nullptr,
                  std::vector<std::pair<std::string, std::string>> headers = {}, double timeout = 60) {
  HttpResult r = http_request(method, url, body.is_null() ? "" : body.dump(), timeout, headers);
  Reply out{r.status, nullptr, r.headers};
  try {
    out.body = nlohmann::json::parse(r.body);
  } catch (const std::exception&) {
    out.body = r.body;
  }
  return out;
}

// Polls GET url/jobs/ID until the job is final; returns its view (null on timeout).
inline nlohmann::json wait_final(const std::string& url, const std::string& id, double seconds = 60,
                                 std::vector<std::pair<std::string, std::string>> headers = {}) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    Reply r = call("GET", url + "/jobs/" + id, nullptr, headers);
    if (r.status == 200) {
      const std::string state = r.body.value("state", "");
      if (state == "completed" || state == "failed" || state == "cancelled") return r.body;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return nullptr;
}

}  // namespace workers::testing_support

namespace workers::testing_support {

// Checks bodies the service produced against communication/schemas/NAME.schema.json with the real
// validator (tests/communication/validate_schemas.py, python3-jsonschema).
inline void expect_schema(const std::string& name, const std::vector<nlohmann::json>& values) {
  static int counter = 0;
  const std::string file = ::testing::TempDir() + "/schema_" + std::to_string(::getpid()) + "_" +
                           std::to_string(counter++) + ".jsonl";
  {
    std::ofstream out(file);
    for (const auto& v : values) out << v.dump() << "\n";
  }
  const std::string log = file + ".log";
  const std::string command = std::string(SDXL_SCHEMA_PYTHON) + " " + SDXL_SCHEMA_VALIDATOR + " --schemas " +
                              SDXL_SCHEMAS_DIR + " --instances " + name + "=" + file + " --min " +
                              std::to_string(values.size()) + " > " + log + " 2>&1";
  const int status = std::system(command.c_str());
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(status, 0) << name << ".schema.json: " << text.str();
  std::remove(file.c_str());
  std::remove(log.c_str());
}

}  // namespace workers::testing_support
