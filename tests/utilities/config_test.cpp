#include "utilities/config.h"

#include <cstdio>
#include <fstream>
#include <map>

#include <gtest/gtest.h>

#include "utilities/error.h"

namespace workers {
namespace {

EnvLookup env_of(std::map<std::string, std::string> values) {
  return [values](const std::string& name) -> std::optional<std::string> {
    auto it = values.find(name);
    if (it == values.end()) return std::nullopt;
    return it->second;
  };
}

std::string config_error_field(const nlohmann::json& document) {
  try {
    parse_config(document);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kConfigError);
    return e.field();
  }
  return "";
}

TEST(Config, DefaultsForEverything) {
  auto c = parse_config(nlohmann::json::object());
  EXPECT_EQ(c.main_interface.max_concurrent_tasks, 1);
  EXPECT_DOUBLE_EQ(c.main_interface.task_timeout, 600.0);
  EXPECT_EQ(c.device.device, "auto");
  EXPECT_EQ(c.communication.max_line_bytes, 16u << 20);
  EXPECT_EQ(c.logging.level, "info");
  EXPECT_TRUE(c.warnings.empty());
}

TEST(Config, ReadsHierarchicalSections) {
  auto c = parse_config(nlohmann::json::parse(R"({
    "workers": {
      "main_interface": {"max_concurrent_tasks": 2, "task_timeout": 30, "limits": {"max_size": 2048}},
      "instructors": {
        "device": {"device": "cpu", "dtype": "bfloat16", "threads": 4},
        "model": {"model_roots": ["/models"], "cache_bytes": 1000},
        "scheduler": {"default": "Euler a"},
        "postprocessing": {"output_root": "/tmp/out"}
      }
    },
    "logging": {"level": "debug", "file": "/tmp/w.log"}
  })"));
  EXPECT_EQ(c.main_interface.max_concurrent_tasks, 2);
  EXPECT_DOUBLE_EQ(c.main_interface.task_timeout, 30);
  EXPECT_EQ(c.main_interface.limits.max_size, 2048);
  EXPECT_EQ(c.device.dtype, "bfloat16");
  EXPECT_EQ(c.device.threads, 4);
  EXPECT_EQ(c.model.model_roots, std::vector<std::string>{"/models"});
  EXPECT_EQ(c.model.cache_bytes, 1000u);
  EXPECT_EQ(c.scheduler.default_scheduler, "Euler a");
  EXPECT_EQ(c.postprocessing.output_root, "/tmp/out");
  EXPECT_EQ(c.logging.level, "debug");
}

TEST(Config, BadValuesNameTheField) {
  EXPECT_EQ(config_error_field(nlohmann::json::parse(R"({"workers":{"main_interface":{"max_concurrent_tasks":0}}})")),
            "workers.main_interface.max_concurrent_tasks");
  EXPECT_EQ(config_error_field(nlohmann::json::parse(R"({"workers":{"instructors":{"device":{"dtype":"int8"}}}})")),
            "workers.instructors.device.dtype");
  EXPECT_EQ(config_error_field(nlohmann::json::parse(R"({"logging":{"level":"loud"}})")), "logging.level");
  EXPECT_EQ(config_error_field(nlohmann::json::parse(R"({"workers":{"main_interface":"fast"}})")),
            "workers.main_interface");
  EXPECT_EQ(config_error_field(nlohmann::json::parse(R"({"workers":{"main_interface":{"task_timeout":-1}}})")),
            "workers.main_interface.task_timeout");
}

TEST(Config, PostprocessingModelsAndTheirBounds) {
  const std::string path = testing::TempDir() + "/workers_config_post.json";
  std::ofstream(path) << R"({"workers":{"instructors":{"postprocessing":{"upscale_tile":128,)"
                         R"("safety_checker":{"model":"/models/sd/safety_checker","mode":"blur"}}}}})";
  auto c = load_config(path, env_of({{"SDXL_WORKERS_UPSCALER_ROOTS", "/up:/scale"},
                                     {"SDXL_WORKERS_SAFETY_CHECKER_MODE", "black"}}));
  EXPECT_EQ(c.model.upscaler_roots, (std::vector<std::string>{"/up", "/scale"}));
  EXPECT_EQ(c.postprocessing.upscale_tile, 128);
  EXPECT_EQ(c.postprocessing.safety_checker_model, "/models/sd/safety_checker");
  EXPECT_EQ(c.postprocessing.safety_checker_mode, "black");  // the environment wins
  std::remove(path.c_str());
  EXPECT_EQ(parse_config(nlohmann::json::object()).postprocessing.safety_checker_mode, "off");
  EXPECT_EQ(config_error_field(nlohmann::json::parse(
                R"({"workers":{"instructors":{"postprocessing":{"safety_checker":{"mode":"hide"}}}}})")),
            "workers.instructors.postprocessing.safety_checker.mode");
  EXPECT_EQ(config_error_field(
                nlohmann::json::parse(R"({"workers":{"instructors":{"postprocessing":{"upscale_tile":-1}}}})")),
            "workers.instructors.postprocessing.upscale_tile");
}

TEST(Config, UnknownKeysBecomeWarnings) {
  auto c = parse_config(nlohmann::json::parse(R"({"workers":{"instructors":{"device":{"devise":"cpu"}}},"extra":1})"));
  ASSERT_EQ(c.warnings.size(), 2u);
  EXPECT_NE(c.warnings[0].find("extra"), std::string::npos);
  EXPECT_NE(c.warnings[1].find("workers.instructors.device.devise"), std::string::npos);
}

TEST(Config, EnvironmentOverridesTheFile) {
  const std::string path = testing::TempDir() + "/workers_config_test.json";
  std::ofstream(path) << R"({"workers":{"instructors":{"device":{"threads":3}}},"logging":{"level":"warn"}})";
  auto c = load_config(path, env_of({{"SDXL_WORKERS_THREADS", "5"},
                                     {"SDXL_WORKERS_MODEL_ROOTS", "/a:/b"},
                                     {"SDXL_WORKERS_TASK_TIMEOUT", "12.5"}}));
  EXPECT_EQ(c.device.threads, 5);
  EXPECT_EQ(c.logging.level, "warn");
  EXPECT_EQ(c.model.model_roots, (std::vector<std::string>{"/a", "/b"}));
  EXPECT_DOUBLE_EQ(c.main_interface.task_timeout, 12.5);
  std::remove(path.c_str());
}

TEST(Config, UnparsableEnvironmentValueNamesTheVariable) {
  try {
    load_config(std::nullopt, env_of({{"SDXL_WORKERS_THREADS", "four"}}));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.field(), "SDXL_WORKERS_THREADS");
  }
}

TEST(Config, MissingOrMalformedFileIsAConfigError) {
  EXPECT_THROW(load_config(std::string("/nonexistent/workers_config.json"), env_of({})), Error);
  const std::string path = testing::TempDir() + "/broken_config.json";
  std::ofstream(path) << "{ not json";
  try {
    load_config(path, env_of({}));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kConfigError);
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos);
  }
  std::remove(path.c_str());
}

TEST(Config, PostprocessingStagesDefaultReadAndChecked) {
  EXPECT_EQ(parse_config(nlohmann::json::object()).postprocessing.stages,
            (std::vector<std::string>{"safety_check", "upscale", "enhance", "encode", "thumbnail"}));
  auto stages = [](const char* value) {
    const nlohmann::json post = {{"postprocessing", {{"stages", nlohmann::json::parse(value)}}}};
    return nlohmann::json{{"workers", {{"instructors", post}}}};
  };
  const auto c = parse_config(stages(R"(["invert", "encode"])"));
  EXPECT_EQ(c.postprocessing.stages, (std::vector<std::string>{"invert", "encode"}));
  EXPECT_EQ(to_json(c)["workers"]["instructors"]["postprocessing"]["stages"],
            nlohmann::json::parse(R"(["invert", "encode"])"));
  const std::string field = "workers.instructors.postprocessing.stages";
  EXPECT_EQ(config_error_field(stages("[]")), field);
  EXPECT_EQ(config_error_field(stages(R"(["encode", "encode"])")), field);
  EXPECT_EQ(config_error_field(stages(R"(["encode", ""])")), field);
  EXPECT_EQ(config_error_field(stages(R"({"encode": true})")), field);
  EXPECT_EQ(config_error_field(stages(R"(["encode", 3])")), field + "[1]");
  const auto env =
      load_config(std::nullopt, env_of({{"SDXL_WORKERS_POSTPROCESSING_STAGES", "encode"}}));
  EXPECT_EQ(env.postprocessing.stages, std::vector<std::string>{"encode"});
}

TEST(Config, ToJsonParsesBackToTheSameConfig) {
  auto c = parse_config(nlohmann::json::parse(R"({"workers":{"main_interface":{"max_concurrent_tasks":3}}})"));
  auto again = parse_config(to_json(c));
  EXPECT_EQ(again.main_interface.max_concurrent_tasks, 3);
  EXPECT_TRUE(again.warnings.empty()) << again.warnings.front();
}

}  // namespace
}  // namespace workers

namespace workers {
namespace {

TEST(Config, MaxMemoryTakesBytesOrSizesFromTheFileAndTheEnvironment) {
  const auto parse = [](const char* json) { return parse_config(nlohmann::json::parse(json)).device.max_memory; };
  EXPECT_EQ(parse(R"({})"), 0u);  // the device's memory minus a margin, decided by the device policy
  EXPECT_EQ(parse(R"({"workers":{"instructors":{"device":{"max_memory":8589934592}}}})"), 8ull << 30);
  EXPECT_EQ(parse(R"({"workers":{"instructors":{"device":{"max_memory":"8GB"}}}})"), 8ull << 30);
  EXPECT_EQ(parse(R"({"workers":{"instructors":{"device":{"max_memory":"512 MiB"}}}})"), 512ull << 20);
  EXPECT_EQ(parse(R"({"workers":{"instructors":{"device":{"max_memory":"6.5g"}}}})"), 6656ull << 20);
  for (const char* bad : {R"("eight gigs")", R"("-8GB")", R"(-1)", R"(true)", R"("8PB")", R"("")"}) {
    EXPECT_EQ(config_error_field(nlohmann::json::parse(std::string(R"({"workers":{"instructors":{"device":{"max_memory":)") +
                                                      bad + "}}}}")),
              "workers.instructors.device.max_memory")
        << bad;
  }
  const auto env = load_config(std::nullopt, env_of({{"SDXL_WORKERS_MAX_MEMORY", "12GiB"}}));
  EXPECT_EQ(env.device.max_memory, 12ull << 30);
  EXPECT_EQ(to_json(env)["workers"]["instructors"]["device"]["max_memory"], 12ull << 30);
}

}  // namespace
}  // namespace workers
