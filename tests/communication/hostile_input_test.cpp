// Hostile and host-specific input to the decoder: nesting bombs, NUL bytes, ids wider than 64
// bits, the C# host's message shapes and scheduler names, requests that name no model.
#include <string>

#include <gtest/gtest.h>

#include "communication/json_guard.h"
#include "communication/message_decoder.h"

namespace workers {
namespace {

MessageDecoder decoder(std::string default_model = "") {
  return MessageDecoder(compat::default_translators(), RequestLimits{}, std::move(default_model));
}

std::string nested_object(int depth) {
  std::string s;
  for (int i = 0; i < depth; ++i) s += "{\"a\":";
  s += "1";
  s.append(static_cast<std::size_t>(depth), '}');
  return s;
}

std::string nested_array(int depth) {
  return std::string(static_cast<std::size_t>(depth), '[') + std::string(static_cast<std::size_t>(depth), ']');
}

void expect_depth_error(const DecodeResult& result) {
  ASSERT_TRUE(result.error);
  EXPECT_EQ(result.error->code(), ErrorCode::kInvalidRequest);
  EXPECT_NE(std::string(result.error->what()).find("deeper than 64 levels"), std::string::npos) << result.error->what();
}

// The issue's repro: 100,000 levels in a field once overflowed the stack while the value was
// copied. Every request format goes through the same guard.
TEST(HostileInput, DeepNestingIsRefusedNamingTheLimitInEveryFormat) {
  const auto deep_object = nested_object(100000);
  const auto deep_array = nested_array(200000);
  for (const std::string& line :
       {"{\"message_type\":\"status_request\",\"x\":" + deep_object + "}",
        "{\"message_type\":\"inference_request\",\"loras\":" + deep_array + "}",
        "{\"model_id\":\"m\",\"prompt\":" + deep_object + "}",
        "{\"operation\":\"txt2img\",\"data\":{\"prompt\":" + deep_array + "}}",
        "{\"action\":\"generate_sdxl_enhanced\",\"Conditioning\":" + deep_object + "}", deep_array}) {
    expect_depth_error(decoder().decode_line(line));
  }
}

TEST(HostileInput, NestingUpToTheLimitStillDecodes) {
  // 64 levels in all: the message object and 63 below it.
  auto result = decoder().decode_line("{\"message_type\":\"status_request\",\"x\":" + nested_object(62) + "}");
  EXPECT_FALSE(result.error) << result.error->what();
  expect_depth_error(decoder().decode_line("{\"message_type\":\"status_request\",\"x\":" + nested_object(64) + "}"));
}

TEST(HostileInput, DeepValueFromAnEmbeddingHostIsRefusedWithoutRecursion) {
  nlohmann::json value = 1;
  for (int i = 0; i < 100000; ++i) {
    nlohmann::json outer = nlohmann::json::object();
    outer["a"] = std::move(value);
    value = std::move(outer);
  }
  nlohmann::json message = {{"message_type", "status_request"}};
  message["x"] = std::move(value);
  expect_depth_error(decoder().decode(message));
  // nlohmann destroys values iteratively; `message` going out of scope must not crash either.
}

TEST(HostileInput, NulByteMakesTheLineMalformed) {
  const std::string line("{\"message_type\":\"status_request\"}\0{\"junk\":", 43);
  auto result = decoder().decode_line(line);
  ASSERT_TRUE(result.error);
  EXPECT_EQ(result.error->code(), ErrorCode::kInvalidRequest);
  EXPECT_NE(std::string(result.error->what()).find("NUL byte at offset 33"), std::string::npos) << result.error->what();
}

TEST(HostileInput, RequestIdsWiderThan64BitsKeepTheirDigits) {
  auto result = decoder().decode_line(R"({"message_type":"status_request","request_id":18446744073709551616})");
  ASSERT_FALSE(result.error) << result.error->what();
  EXPECT_EQ(result.request_id, "18446744073709551616");
  result = decoder().decode_line(
      R"({"message_type":"cancel_request","request_id":-99999999999999999999,"target_request_id":123456789012345678901234})");
  ASSERT_FALSE(result.error) << result.error->what();
  EXPECT_EQ(result.request_id, "-99999999999999999999");
  EXPECT_EQ(result.message->cancel_target, "123456789012345678901234");
  // A fraction is no id.
  result = decoder().decode_line(R"({"message_type":"status_request","request_id":1.5})");
  ASSERT_TRUE(result.error);
  EXPECT_EQ(result.error->field(), "request_id");
}

TEST(HostileInput, NulInsideANameDoesNotCutTheMessage) {
  const Error e(ErrorCode::kModelNotFound, std::string("no model \"a\0b\" (tried x)", 24), "model.base");
  EXPECT_EQ(std::string(e.what()), "no model \"a\\u0000b\" (tried x)");
}

TEST(HostileInput, SingleAdapterStringIsNamedAsTheFirstItem) {
  auto result = decoder().decode_line(R"({"message_type":"inference_request","model":"m","loras":":0.5"})");
  ASSERT_TRUE(result.error);
  EXPECT_EQ(result.error->field(), "loras[0]");
  result = decoder().decode_line(R"({"message_type":"inference_request","model":"m","controlnets":{"bogus":1}})");
  ASSERT_TRUE(result.error);
  EXPECT_EQ(result.error->field(), "controlnets[0].bogus");
}

const char* kEnhancedPayload = R"({"Model": {"Base": "sdxl-base"}, "Scheduler": {"Type": "DPM++", "Steps": 25},
  "Hyperparameters": {"GuidanceScale": 6.5, "Seed": 7, "Width": 832, "Height": 1216},
  "Conditioning": {"Prompt": "a cat"}})";

TEST(HostileInput, CSharpHostEnvelopeWithMessageTypeIsAccepted) {
  const std::string wrapped = std::string(R"({"message_type": "inference_request", "request_id": "cs1",
    "action": "generate_sdxl_enhanced", "data": )") + kEnhancedPayload + "}";
  auto pascal = nlohmann::json::parse(kEnhancedPayload);
  pascal["message_type"] = "inference_request";
  pascal["request_id"] = "cs2";
  for (const std::string& line : {wrapped, pascal.dump()}) {
    auto result = decoder().decode_line(line);
    ASSERT_FALSE(result.error) << result.error->what() << "\n" << line;
    const auto& g = *result.message->generation;
    EXPECT_EQ(g.model.base, "sdxl-base");
    EXPECT_EQ(g.steps, 25);
    EXPECT_EQ(g.width, 832);
    EXPECT_EQ(g.prompt, "a cat");
    EXPECT_EQ(result.message->format, "enhanced_sdxl");
    // The host's short scheduler name runs as the sampler it stands for, and says so.
    EXPECT_EQ(g.scheduler, "DPM++ 2M");
    bool warned = false;
    for (const auto& w : result.warnings) warned = warned || w.find("runs as \"DPM++ 2M\"") != std::string::npos;
    EXPECT_TRUE(warned);
    for (const auto& w : result.warnings) EXPECT_EQ(w.find("message_type"), std::string::npos) << w;
  }
}

TEST(HostileInput, HostSchedulerShortNamesMapToSamplers) {
  const std::pair<const char*, const char*> cases[] = {
      {"DPM++", "DPM++ 2M"}, {"EulerA", "Euler a"}, {"DDIM", "DDIM"}, {"Euler", "Euler"}, {"DPM++ SDE", "DPM++ SDE"}};
  for (const auto& [host, sampler] : cases) {
    auto message = nlohmann::json::parse(kEnhancedPayload);
    message["Scheduler"]["Type"] = host;
    auto result = decoder().decode(message);
    ASSERT_FALSE(result.error) << result.error->what();
    EXPECT_EQ(result.message->generation->scheduler, sampler) << host;
  }
}

TEST(HostileInput, OtherMessageTypesBesideAnActionStayCanonical) {
  auto result = decoder().decode_line(R"({"message_type":"status_request","action":"generate_sdxl_enhanced"})");
  ASSERT_FALSE(result.error) << result.error->what();
  EXPECT_EQ(result.message->type, MessageType::kStatus);
}

TEST(HostileInput, RequestsNamingNoModelUseTheConfiguredDefault) {
  const std::string flat = R"({"request_id": "py", "prompt": "a cat", "num_inference_steps": 20, "seed": 3})";
  auto result = decoder("sdxl-base").decode_line(flat);
  ASSERT_FALSE(result.error) << result.error->what();
  EXPECT_EQ(result.message->generation->model.base, "sdxl-base");
  EXPECT_EQ(result.message->generation->steps, 20);
  result = decoder("sdxl-base").decode_line(R"({"message_type":"inference_request","prompt":"x"})");
  ASSERT_FALSE(result.error) << result.error->what();
  EXPECT_EQ(result.message->generation->model.base, "sdxl-base");
  // Without a default the request still names the field and the setting.
  result = decoder().decode_line(flat);
  ASSERT_TRUE(result.error);
  EXPECT_EQ(result.error->field(), "model_id");
  EXPECT_NE(std::string(result.error->what()).find("default_model"), std::string::npos);
}

TEST(JsonGuard, CheckDepthCountsTheOuterValueAsLevelOne) {
  EXPECT_NO_THROW(check_json_depth(nlohmann::json::parse(nested_array(64))));
  EXPECT_THROW(check_json_depth(nlohmann::json::parse(nested_array(65))), Error);
  EXPECT_NO_THROW(parse_protocol_line(nested_array(64)));
  EXPECT_THROW(parse_protocol_line(nested_array(65)), Error);
}

}  // namespace
}  // namespace workers
