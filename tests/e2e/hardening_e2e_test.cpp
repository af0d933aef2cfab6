// The real executable under hostile input and shutdown: a nesting bomb is answered, SIGTERM
// drains within shutdown_grace_seconds and then answers every unfinished job, a second signal
// ends the drain at once, and `generate` takes folder paths with a trailing slash.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "e2e/serve_output_capture.h"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

using Env = std::vector<std::pair<std::string, std::string>>;

// `sdxl-workers serve` as a child process with pipes on stdin and stdout; stdout lines are
// collected as they come.
class ServeProcess {
 public:
  explicit ServeProcess(const Env& env) {
    int in[2], out[2];
    if (::pipe(in) != 0 || ::pipe(out) != 0) throw std::runtime_error("pipe");
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(in[0], 0);
      ::dup2(out[1], 1);
      for (int fd : {in[0], in[1], out[0], out[1]}) ::close(fd);
      for (const auto& [name, value] : env) ::setenv(name.c_str(), value.c_str(), 1);
      ::execl(SDXL_WORKERS_EXE, SDXL_WORKERS_EXE, "serve", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    input_ = in[1];
    reader_ = std::thread([this, fd = out[0]] {
      std::string pending;
      char buffer[65536];
      for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) > 0;) {
        pending.append(buffer, static_cast<std::size_t>(n));
        for (std::size_t end; (end = pending.find('\n')) != std::string::npos; pending.erase(0, end + 1)) {
          e2e::capture_serve_output({pending.substr(0, end)});
          std::lock_guard<std::mutex> lock(mutex_);
          lines_.push_back(nlohmann::json::parse(pending.substr(0, end), nullptr, false));
          changed_.notify_all();
        }
      }
      ::close(fd);
    });
  }
  ~ServeProcess() {
    close_input();
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (reader_.joinable()) reader_.join();
  }

  void send(const std::string& line) {
    const std::string text = line + "\n";
    ASSERT_EQ(::write(input_, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  }
  void close_input() {
    if (input_ >= 0) ::close(input_);
    input_ = -1;
  }
  void signal(int number) { ::kill(pid_, number); }
  // Waits until `done(lines)` holds; false after `limit`.
  bool wait_until(const std::function<bool(const std::vector<nlohmann::json>&)>& done,
                  std::chrono::seconds limit = 60s) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, limit, [&] { return done(lines_); });
  }
  // The exit code, or -1 when the process did not exit normally within `limit`.
  int wait_exit(std::chrono::seconds limit = 60s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    int status = 0;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) return -1;
      std::this_thread::sleep_for(20ms);
    }
    exited_ = true;
    if (reader_.joinable()) reader_.join();
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  // Final responses (not progress events) by request id.
  std::map<std::string, nlohmann::json> finals() {
    std::lock_guard<std::mutex> lock(mutex_);
    std::map<std::string, nlohmann::json> out;
    for (const auto& line : lines_) {
      if (line.is_object() && !line.contains("event")) out[line.value("request_id", "")] = line;
    }
    return out;
  }

 private:
  pid_t pid_ = -1;
  int input_ = -1;
  bool exited_ = false;
  std::thread reader_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<nlohmann::json> lines_;
};

bool has_progress_of(const std::vector<nlohmann::json>& lines, const std::string& id) {
  for (const auto& line : lines) {
    if (line.is_object() && line.contains("event") && line.value("request_id", "") == id) return true;
  }
  return false;
}

std::string long_job(const std::string& id) {
  return R"({"request_id":")" + id +
         R"(","message_type":"inference_request","model":"tiny-sdxl","width":64,"height":64,"steps":1000})";
}

Env tiny_env(const std::string& outputs, const std::string& grace) {
  return {{"SDXL_WORKERS_MODEL_ROOTS", SDXL_FIXTURES_DIR},
          {"SDXL_WORKERS_OUTPUT_ROOT", outputs},
          {"SDXL_WORKERS_SHUTDOWN_GRACE_SECONDS", grace},
          {"SDXL_WORKERS_LOG_LEVEL", "warn"}};
}

TEST(HardeningE2E, NestingBombIsAnsweredAndTheProcessExitsZero) {
  const int n = 100000;
  std::string bomb = R"({"message_type":"status_request","request_id":"bomb","x":)";
  for (int i = 0; i < n; ++i) bomb += R"({"a":)";
  bomb += "1" + std::string(n, '}') + "}";
  ServeProcess worker(Env{{"SDXL_WORKERS_LOG_LEVEL", "warn"}});
  worker.send(bomb);
  worker.send(R"({"request_id":"after","message_type":"status_request"})");
  worker.close_input();
  EXPECT_EQ(worker.wait_exit(), 0);
  auto finals = worker.finals();
  ASSERT_EQ(finals.size(), 2u);
  const auto& error = finals["bomb"]["error"];  // the id read before the nesting went too deep
  EXPECT_EQ(error["code"], "INVALID_REQUEST");
  EXPECT_NE(error["message"].get<std::string>().find("64 levels"), std::string::npos) << error.dump();
  EXPECT_EQ(finals["after"]["success"], true);
}

TEST(HardeningE2E, SigtermDrainsUntilTheGracePeriodThenAnswersEveryJob) {
  const std::string outputs = testing::TempDir() + "/e2e_grace_" + std::to_string(::getpid());
  ServeProcess worker(tiny_env(outputs, "1"));
  for (const char* id : {"long", "queued1", "queued2"}) worker.send(long_job(id));
  ASSERT_TRUE(worker.wait_until([](const auto& lines) { return has_progress_of(lines, "long"); }));
  const auto signalled = std::chrono::steady_clock::now();
  worker.signal(SIGTERM);
  // Accepted while draining: answered at once, refused.
  worker.send(long_job("late"));
  EXPECT_EQ(worker.wait_exit(), 0);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - signalled).count();
  EXPECT_LT(seconds, 30.0);  // the 1 s grace, not 3,000 steps
  auto finals = worker.finals();
  for (const char* id : {"long", "queued1", "queued2", "late"}) {
    ASSERT_TRUE(finals.count(id)) << id;
    EXPECT_EQ(finals[id]["error"]["code"], "WORKER_UNAVAILABLE") << finals[id].dump();
  }
  fs::remove_all(outputs);
}

TEST(HardeningE2E, SecondSignalEndsTheDrainAtOnce) {
  const std::string outputs = testing::TempDir() + "/e2e_second_" + std::to_string(::getpid());
  ServeProcess worker(tiny_env(outputs, "3600"));
  for (const char* id : {"long", "queued"}) worker.send(long_job(id));
  ASSERT_TRUE(worker.wait_until([](const auto& lines) { return has_progress_of(lines, "long"); }));
  worker.signal(SIGTERM);
  std::this_thread::sleep_for(200ms);
  worker.signal(SIGTERM);
  EXPECT_EQ(worker.wait_exit(), 0);
  auto finals = worker.finals();
  for (const char* id : {"long", "queued"}) {
    ASSERT_TRUE(finals.count(id)) << id;
    EXPECT_EQ(finals[id]["error"]["code"], "WORKER_UNAVAILABLE") << finals[id].dump();
  }
  fs::remove_all(outputs);
}

// `--model DIR/` (a shell's completion adds the slash) names the folder; --output is replaced on
// a second run, as a command-line tool's output file is.
TEST(HardeningE2E, GenerateTakesAFolderWithATrailingSlashAndReplacesItsOutput) {
  const fs::path outputs = fs::path(testing::TempDir()) / ("e2e_slash_" + std::to_string(::getpid()));
  fs::create_directories(outputs);
  const std::string command = std::string("'") + SDXL_WORKERS_EXE + "' generate --model '" + SDXL_FIXTURES_DIR +
                              "/tiny-sdxl/' --prompt fox --steps 1 --width 64 --output '" +
                              (outputs / "fox.png").string() + "' > /dev/null 2> '" + (outputs / "err").string() + "'";
  for (int run = 0; run < 2; ++run) {
    EXPECT_EQ(std::system(command.c_str()), 0) << run;
  }
  EXPECT_TRUE(fs::is_regular_file(outputs / "fox.png"));
  EXPECT_FALSE(fs::exists(outputs / "fox-1.png"));
  fs::remove_all(outputs);
}

}  // namespace
