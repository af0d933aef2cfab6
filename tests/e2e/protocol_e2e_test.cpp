// Spawns the real sdxl-workers executable and talks to it over stdin/stdout.
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <fstream>
#include <random>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "e2e/run_process.h"

namespace {

using e2e::capture_serve_output;
using e2e::finals_by_id;
using e2e::parse;
using e2e::run;
using e2e::Run;
using e2e::slurp;
using e2e::split_lines;
using e2e::tiny_env;

TEST(ProtocolE2E, IssueExampleThreeLinesExitZero) {
  for (bool piped : {true, false}) {
    auto r = run("serve",
                 "{\"request_id\":\"a\",\"message_type\":\"status_request\"}\nnot json\n"
                 "{\"request_id\":\"b\",\"message_type\":\"status_request\"}\n",
                 "SDXL_WORKERS_LOG_LEVEL=debug", piped);
    EXPECT_EQ(r.exit_code, 0) << r.stderr_text;
    ASSERT_EQ(r.lines.size(), 3u) << r.stderr_text;
    auto a = parse(r.lines[0]), bad = parse(r.lines[1]), b = parse(r.lines[2]);
    EXPECT_EQ(a["request_id"], "a");
    EXPECT_EQ(a["success"], true);
    EXPECT_TRUE(a["data"]["device"]["cpu"].contains("logical_cores"));
    EXPECT_EQ(bad["success"], false);
    EXPECT_EQ(bad["error"]["code"], "INVALID_REQUEST");
    EXPECT_EQ(b["request_id"], "b");
    EXPECT_EQ(b["success"], true);
    EXPECT_NE(r.stderr_text.find("intra-op threads"), std::string::npos);  // logs go to stderr
  }
}

TEST(ProtocolE2E, OverlongLineIsAnsweredAndServingContinues) {
  const std::string big = "{\"request_id\":\"big\",\"prompt\":\"" + std::string(5000, 'x') + "\"}\n";
  auto r = run("serve", big + "{\"request_id\":\"after\",\"message_type\":\"status_request\"}\n",
               "SDXL_WORKERS_MAX_LINE_BYTES=1024");
  EXPECT_EQ(r.exit_code, 0);
  ASSERT_EQ(r.lines.size(), 2u);
  auto overflow = parse(r.lines[0]);
  EXPECT_EQ(overflow["error"]["code"], "INVALID_REQUEST");
  EXPECT_NE(overflow["error"]["message"].get<std::string>().find("max_line_bytes"), std::string::npos);
  EXPECT_EQ(parse(r.lines[1])["request_id"], "after");
}

TEST(ProtocolE2E, InferenceIsValidatedThenRefusedWithoutModelRoots) {
  auto r = run("serve",
               "{\"request_id\":\"i1\",\"message_type\":\"inference_request\",\"model\":\"sdxl\",\"prompt\":\"cat\"}\n"
               "{\"model_id\":\"sdxl\",\"prompt\":\"cat\",\"num_inference_steps\":5000}\n"
               "{\"request_id\":\"i3\",\"operation\":\"fly\"}\n");
  EXPECT_EQ(r.exit_code, 0);
  // The inference request fails on its compute thread (no model roots), after the two decode
  // failures that are answered at once, and may be preceded by a "loading" progress event.
  std::map<std::string, nlohmann::json> finals;
  for (const auto& line : r.lines) {
    auto j = parse(line);
    if (!j.contains("event")) finals[j["error"].value("field", "")] = j;
  }
  ASSERT_EQ(finals.size(), 3u);
  EXPECT_EQ(finals["model.base"]["request_id"], "i1");
  EXPECT_EQ(finals["model.base"]["error"]["code"], "INVALID_REQUEST");
  EXPECT_TRUE(finals.count("num_inference_steps"));
  EXPECT_EQ(finals["operation"]["request_id"], "i3");
}

TEST(ProtocolE2E, ShutdownMessageEndsTheProcessCleanly) {
  auto r = run("serve", "{\"request_id\":\"q\",\"message_type\":\"shutdown\"}\n");
  EXPECT_EQ(r.exit_code, 0);
  ASSERT_GE(r.lines.size(), 1u);
  EXPECT_EQ(parse(r.lines[0])["data"]["shutting_down"], true);
}

TEST(ProtocolE2E, GarbageLinesAreAllAnsweredAndTheProcessSurvives) {
  std::mt19937 rng(1234);
  std::string input;
  const int kLines = 200;
  for (int i = 0; i < kLines; ++i) {
    std::string line;
    int length = 1 + rng() % 120;
    for (int j = 0; j < length; ++j) {
      char c = static_cast<char>(rng() % 256);
      if (c == '\n' || c == '\r') c = '{';
      line.push_back(c);
    }
    if (line.find_first_not_of(" \t") == std::string::npos) line = "x";
    input += line + "\n";
  }
  input += "8888888888e88888888{\n";  // once crashed the process (found by the fuzzer)
  input += "{\"request_id\":\"last\",\"message_type\":\"status_request\"}\n";
  auto r = run("serve", input);
  EXPECT_EQ(r.exit_code, 0);
  ASSERT_EQ(r.lines.size(), static_cast<std::size_t>(kLines + 2));
  for (int i = 0; i <= kLines; ++i) EXPECT_EQ(parse(r.lines[i])["success"], false);
  EXPECT_EQ(parse(r.lines.back())["request_id"], "last");
}

TEST(ProtocolE2E, StatusCommandPrintsDeviceInfo) {
  auto r = run("status", "");
  EXPECT_EQ(r.exit_code, 0);
  std::string all;
  for (const auto& l : r.lines) all += l + "\n";
  auto j = parse(all);
  EXPECT_EQ(j["success"], true);
  EXPECT_FALSE(j["data"]["device"]["backends"].empty());
}

TEST(ProtocolE2E, TokenizeCommandPrintsTheReferenceIds) {
  std::ifstream in(std::string(SDXL_FIXTURES_DIR) + "/tokenizer_cases.json");
  const auto cases = nlohmann::json::parse(in);
  const auto& c = cases[1];  // mixed case and punctuation
  const std::string model = std::string(SDXL_FIXTURES_DIR) + "/tiny-sdxl";
  auto r = run("tokenize --model '" + model + "' --tokenizer 2 '" + c["text"].get<std::string>() + "'", "");
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  ASSERT_EQ(r.lines.size(), 1u);
  auto j = parse(r.lines[0]);
  EXPECT_EQ(j["ids"], c["ids_77_tokenizer_2"]);
  EXPECT_EQ(j["tokens"].size(), 77u);
  auto raw = parse(run("tokenize --model '" + model + "/tokenizer' --max-length 0 '" + c["text"].get<std::string>() + "'", "").lines.at(0));
  EXPECT_EQ(raw["ids"], c["ids"]);
  auto refused = run("tokenize --model '" + model + "' --tokenizer 3 x", "");
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_NE(refused.stderr_text.find("tokenizer: must be 1 or 2"), std::string::npos);
}

TEST(ProtocolE2E, ConfigCommandShowsEnvironmentOverrides) {
  auto r = run("config", "", "SDXL_WORKERS_THREADS=3 SDXL_WORKERS_MAX_CONCURRENT_TASKS=2");
  EXPECT_EQ(r.exit_code, 0);
  std::string all;
  for (const auto& l : r.lines) all += l + "\n";
  auto j = parse(all);
  EXPECT_EQ(j["workers"]["instructors"]["device"]["threads"], 3);
  EXPECT_EQ(j["workers"]["main_interface"]["max_concurrent_tasks"], 2);
}

TEST(ProtocolE2E, BadConfigExitsTwoWithAJsonErrorWhenServing) {
  const std::string path = testing::TempDir() + "/bad_workers_config.json";
  std::ofstream(path) << R"({"workers":{"instructors":{"device":{"device":"mps"}}}})";
  auto r = run("serve --config " + path, "");
  EXPECT_EQ(r.exit_code, 2);
  ASSERT_EQ(r.lines.size(), 1u);
  auto j = parse(r.lines[0]);
  EXPECT_EQ(j["error"]["code"], "CONFIG_ERROR");
  EXPECT_NE(j["error"]["message"].get<std::string>().find("MPS is not available"), std::string::npos);
  std::remove(path.c_str());
}

TEST(ProtocolE2E, UnknownCommandIsAUsageError) {
  auto r = run("paint", "");
  EXPECT_EQ(r.exit_code, 64);
  EXPECT_NE(r.stderr_text.find("usage"), std::string::npos);
}

}  // namespace

namespace {

TEST(ProtocolE2E, LogFileGetsTheLogsAndStdoutStaysJson) {
  const std::string log = testing::TempDir() + "/e2e_workers.log";
  std::remove(log.c_str());
  auto r = run("serve", "{\"request_id\":\"a\",\"message_type\":\"status_request\"}\n",
               "SDXL_WORKERS_LOG_FILE=" + log + " SDXL_WORKERS_LOG_LEVEL=debug");
  EXPECT_EQ(r.exit_code, 0);
  ASSERT_EQ(r.lines.size(), 1u);
  EXPECT_EQ(parse(r.lines[0])["request_id"], "a");
  EXPECT_NE(slurp(log).find("intra-op threads"), std::string::npos);
  std::remove(log.c_str());
}

}  // namespace

namespace {

TEST(ProtocolE2E, SigtermDrainsAndExitsZero) {
  const std::string exe = SDXL_WORKERS_EXE;
  const std::string out = testing::TempDir() + "/e2e_sigterm.out";
  const std::string fifo = testing::TempDir() + "/e2e_sigterm.fifo";
  std::remove(fifo.c_str());
  // The shell holds the FIFO's write end open, so stdin never ends: only the signal can stop it.
  // It signals only after the server answered a status request (its loop and handler are up).
  const std::string command =
      "cd " + testing::TempDir() + " && mkfifo '" + fifo + "' && ('" + exe + "' serve < '" + fifo + "' > '" + out +
      "' 2>/dev/null & pid=$!; exec 3>'" + fifo +
      "'; echo '{\"request_id\":\"ready\",\"message_type\":\"status_request\"}' >&3; "
      "for i in $(seq 600); do grep -q ready '" + out + "' && break; sleep 0.1; done; "
      "kill -TERM $pid; wait $pid; rc=$?; exec 3>&-; exit $rc)";
  int status = std::system(command.c_str());
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_NE(slurp(out).find("\"ready\""), std::string::npos);  // served before the signal
  capture_serve_output(split_lines(slurp(out)));
  std::remove(out.c_str());
  std::remove(fifo.c_str());
}

}  // namespace

namespace {

TEST(ProtocolE2E, ModelLoadAndUnloadRunInOrderInsideTheRoots) {
  auto r = run("serve",
               "{\"request_id\":\"l1\",\"message_type\":\"model_load_request\",\"model\":\"tiny-sdxl\"}\n"
               "{\"request_id\":\"l2\",\"message_type\":\"model_load_request\",\"model\":\"/etc/passwd\"}\n"
               "{\"request_id\":\"u\",\"message_type\":\"model_unload_request\",\"model\":\"tiny-sdxl\"}\n"
               "{\"request_id\":\"u2\",\"message_type\":\"model_unload_request\",\"model\":\"tiny-sdxl\"}\n",
               std::string("SDXL_WORKERS_MODEL_ROOTS=") + SDXL_FIXTURES_DIR);
  EXPECT_EQ(r.exit_code, 0) << r.stderr_text;
  std::map<std::string, nlohmann::json> by_id;
  for (const auto& line : r.lines) by_id[parse(line)["request_id"]] = parse(line);
  ASSERT_EQ(by_id.size(), 4u);
  EXPECT_EQ(by_id["l1"]["success"], true) << by_id["l1"].dump();
  EXPECT_EQ(by_id["l1"]["data"]["loaded"]["kind"], "sdxl-base");
  EXPECT_GT(by_id["l1"]["data"]["loaded"]["bytes"].get<std::uint64_t>(), 1u << 20);
  EXPECT_EQ(by_id["l2"]["error"]["code"], "INVALID_REQUEST");
  EXPECT_EQ(by_id["u"]["data"]["unloaded"], true);   // queued after the load
  EXPECT_EQ(by_id["u2"]["data"]["unloaded"], false);  // nothing left
}

TEST(ProtocolE2E, StatusListsEveryCachedComponentAfterTheLoads) {
  const std::string exe = SDXL_WORKERS_EXE;
  const std::string fixtures = SDXL_FIXTURES_DIR;
  const std::string out = testing::TempDir() + "/e2e_loaded_" + std::to_string(::getpid()) + ".out";
  const std::string loads =
      R"({"request_id":"base","message_type":"model_load_request","model":"tiny-sdxl"})"
      "\n"
      R"({"request_id":"lora","message_type":"model_load_request","model":"tiny_lora_kohya",)"
      R"("component":"lora"})"
      "\n"
      R"({"request_id":"net","message_type":"model_load_request","model":"tiny-controlnet",)"
      R"("component":"controlnet"})";
  const std::string status = R"({"request_id":"s","message_type":"status_request"})";
  const std::string env = "SDXL_WORKERS_MODEL_ROOTS='" + fixtures + "' SDXL_WORKERS_LORA_ROOTS='" +
                          fixtures + "/loras' SDXL_WORKERS_CONTROLNET_ROOTS='" + fixtures + "'";
  // Loads run in the job queue and a status request is answered at once, so the status request
  // is written only once the last load has been answered.
  const std::string command = "cd " + testing::TempDir() + " && (echo '" + loads +
                              "'; for i in $(seq 1200); do grep -q '\"request_id\":\"net\"' '" +
                              out + "' 2>/dev/null && break; sleep 0.1; done; echo '" + status +
                              "') | " + env + " '" + exe + "' serve > '" + out + "' 2>/dev/null";
  int exit_status = std::system(command.c_str());
  EXPECT_TRUE(WIFEXITED(exit_status) && WEXITSTATUS(exit_status) == 0);
  const auto lines = split_lines(slurp(out));
  std::remove(out.c_str());
  capture_serve_output(lines);
  std::map<std::string, nlohmann::json> by_id;
  for (const auto& line : lines) by_id[parse(line)["request_id"]] = parse(line);
  for (const char* id : {"base", "lora", "net"}) {
    EXPECT_EQ(by_id[id]["success"], true) << by_id[id].dump();
  }
  ASSERT_EQ(by_id["s"]["success"], true) << by_id["s"].dump();
  const auto& models = by_id["s"]["data"]["models"];
  // A model suite is cached as its components; an adapter or a ControlNet is one entry.
  std::map<std::string, std::string> kinds;  // component -> kind
  std::uint64_t bytes = 0;
  for (const auto& entry : models["loaded"]) {
    kinds[entry["component"]] = entry["kind"];
    bytes += entry["bytes"].get<std::uint64_t>();
  }
  const std::map<std::string, std::string> expected{{"unet", "sdxl-base"},
                                                    {"text_encoders", "sdxl-base"},
                                                    {"vae", "sdxl-base"},
                                                    {"lora", "lora"},
                                                    {"controlnet", "controlnet"}};
  EXPECT_EQ(kinds, expected) << models.dump();
  EXPECT_EQ(models["loaded_bytes"].get<std::uint64_t>(), bytes);
}

}  // namespace

namespace {

TEST(ProtocolE2E, Text2ImgInEveryRequestFormatWithABadRequestBetween) {
  const std::string outputs = testing::TempDir() + "/e2e_outputs_" + std::to_string(::getpid());
  const std::string common = R"("prompt":"a red fox","negative_prompt":"blurry","width":64,"height":64,"seed":7)";
  const std::string input =
      R"({"request_id":"canonical","message_type":"inference_request","model":"tiny-sdxl","steps":2,)" + common + "}\n" +
      R"({"request_id":"flat","model_id":"tiny-sdxl","num_inference_steps":2,)" + common + "}\n" +
      R"({"request_id":"bad","message_type":"inference_request","model":"tiny-sdxl","width":1020})" + "\n" +
      R"({"request_id":"envelope","worker_type":"sdxl","operation":"txt2img","data":{"model_id":"tiny-sdxl","num_inference_steps":2,)" +
      common + "}}\n" +
      R"({"request_id":"enhanced","action":"generate_sdxl_enhanced","Model":{"Base":"tiny-sdxl"},"Scheduler":{"Type":"Euler a","Steps":2},)"
      R"("Hyperparameters":{"Seed":7,"Width":64,"Height":64},"Conditioning":{"Prompt":"a red fox"},"Output":{"Format":"webp"}})" "\n";
  auto r = run("serve", input, tiny_env(outputs));
  EXPECT_EQ(r.exit_code, 0) << r.stderr_text;
  std::map<std::string, int> progress;
  auto finals = finals_by_id(r, &progress);
  ASSERT_EQ(finals.size(), 5u) << r.stderr_text;
  EXPECT_EQ(finals["bad"]["error"]["code"], "INVALID_REQUEST");
  EXPECT_EQ(finals["bad"]["error"]["field"], "width");
  for (const char* id : {"canonical", "flat", "envelope", "enhanced"}) {
    const auto& f = finals[id];
    ASSERT_EQ(f["success"], true) << f.dump();
    const auto& asset = f["data"]["assets"][0];
    EXPECT_TRUE(std::filesystem::exists(asset["path"].get<std::string>())) << id;
    EXPECT_EQ(asset["metadata"]["seed"], 7);
    EXPECT_EQ(asset["width"], 64);
    EXPECT_FALSE(asset["thumbnail"]["base64"].get<std::string>().empty());
    EXPECT_GE(progress[id], 2) << id;  // one event per denoising step at least
  }
  EXPECT_EQ(finals["enhanced"]["data"]["assets"][0]["format"], "webp");
  std::filesystem::remove_all(outputs);
}

TEST(ProtocolE2E, CancelAndTimeoutStopRunningJobsAndServingContinues) {
  const std::string outputs = testing::TempDir() + "/e2e_cancel_" + std::to_string(::getpid());
  const std::string job = R"("message_type":"inference_request","model":"tiny-sdxl","width":64,"height":64,"steps":1000)";
  const std::string input = R"({"request_id":"long",)" + job + "}\n" +
                            R"({"request_id":"c","message_type":"cancel_request","target_request_id":"long"})" "\n" +
                            R"({"request_id":"slow",)" + job + R"(,"timeout":1.5})" "\n" +
                            R"({"request_id":"after","message_type":"inference_request","model":"tiny-sdxl","width":64,"height":64,"steps":1})" "\n";
  auto r = run("serve", input, tiny_env(outputs));
  EXPECT_EQ(r.exit_code, 0) << r.stderr_text;
  auto finals = finals_by_id(r);
  ASSERT_EQ(finals.size(), 4u) << r.stderr_text;
  EXPECT_EQ(finals["c"]["success"], true);
  EXPECT_EQ(finals["long"]["error"]["code"], "CANCELLED");
  EXPECT_EQ(finals["slow"]["error"]["code"], "TIMEOUT_ERROR");
  EXPECT_EQ(finals["after"]["success"], true) << finals["after"].dump();
  std::filesystem::remove_all(outputs);
}

}  // namespace

namespace {

TEST(ProtocolE2E, StatusShowsTheCacheBudgetInEffect) {
  const std::string status = "{\"request_id\":\"s\",\"message_type\":\"status_request\"}\n";
  auto configured = run("serve", status, "SDXL_WORKERS_CACHE_BYTES=123456789");
  ASSERT_EQ(configured.lines.size(), 1u) << configured.stderr_text;
  EXPECT_EQ(parse(configured.lines[0])["data"]["models"]["cache_bytes"], 123456789);
  auto automatic = run("serve", status);
  ASSERT_EQ(automatic.lines.size(), 1u);
  const auto data = parse(automatic.lines[0])["data"];
  // 0 in the config means the memory budget (the device's memory minus a margin).
  EXPECT_EQ(data["models"]["cache_bytes"].get<std::uint64_t>(),
            data["device"]["selected"]["memory_budget"].get<std::uint64_t>());
  EXPECT_EQ(data["memory"]["budget_bytes"], data["device"]["selected"]["memory_budget"]);
  EXPECT_GT(data["device"]["selected"]["memory_budget"].get<std::uint64_t>(), 256u << 20);
  EXPECT_TRUE(data["memory"]["last_plan"].is_null());  // no job yet
  EXPECT_TRUE(data["memory"]["pressure"].is_string());
  EXPECT_EQ(data["queue"]["pipeline_available"], true);
}

}  // namespace
