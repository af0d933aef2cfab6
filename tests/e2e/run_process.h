// Runs the real sdxl-workers executable for the e2e tests: one command with a prepared stdin,
// its stdout lines (kept for the schema check when it serves) and stderr.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "e2e/serve_output_capture.h"

namespace e2e {

struct Run {
  int exit_code = -1;
  std::vector<std::string> lines;  // stdout
  std::string stderr_text;
};

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

inline std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Runs `sdxl-workers ARGS` with `input` on stdin (through a pipe when `piped`, else a file).
inline Run run(const std::string& args, const std::string& input, const std::string& env = "", bool piped = false) {
  static int counter = 0;
  const std::string base = testing::TempDir() + "/e2e_" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
  std::ofstream(base + ".in", std::ios::binary) << input;
  const std::string exe = SDXL_WORKERS_EXE;
  const std::string command =
      "cd " + testing::TempDir() + " && " +
      (piped ? "cat '" + base + ".in' | " + env + " '" + exe + "' " + args
             : env + " '" + exe + "' " + args + " < '" + base + ".in'") +
      " > '" + base + ".out' 2> '" + base + ".err'";
  int status = std::system(command.c_str());
  Run r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.lines = split_lines(slurp(base + ".out"));
  if (args.rfind("serve", 0) == 0) capture_serve_output(r.lines);
  r.stderr_text = slurp(base + ".err");
  for (const char* ext : {".in", ".out", ".err"}) std::remove((base + ext).c_str());
  return r;
}

inline nlohmann::json parse(const std::string& line) {
  try {
    return nlohmann::json::parse(line);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "stdout line is not JSON: " << line;
    return nullptr;
  }
}

inline std::string tiny_env(const std::string& outputs) {
  return std::string("SDXL_WORKERS_MODEL_ROOTS=") + SDXL_FIXTURES_DIR + " SDXL_WORKERS_OUTPUT_ROOT=" + outputs;
}

inline std::map<std::string, nlohmann::json> finals_by_id(const Run& r, std::map<std::string, int>* progress = nullptr) {
  std::map<std::string, nlohmann::json> finals;
  for (const auto& line : r.lines) {
    auto j = parse(line);
    const std::string id = j["request_id"].is_string() ? j["request_id"].get<std::string>() : "null";
    if (j.contains("event")) {
      EXPECT_FALSE(finals.count(id)) << "progress after the final response: " << line;
      if (progress) ++(*progress)[id];
    } else {
      EXPECT_FALSE(finals.count(id)) << "two final responses for " << id;
      finals[id] = j;
    }
  }
  return finals;
}

}  // namespace e2e
