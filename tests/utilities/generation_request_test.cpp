#include "utilities/generation_request.h"

#include <gtest/gtest.h>

#include "utilities/error.h"

namespace workers {
namespace {

GenerationRequest valid() {
  GenerationRequest r;
  r.prompt = "a cat";
  r.model.base = "sdxl-base";
  return r;
}

// Runs validate and returns the field of the error (or "" when it passed).
std::string failing_field(const GenerationRequest& r, ErrorCode expected = ErrorCode::kInvalidRequest) {
  try {
    validate(r, RequestLimits{});
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), expected) << e.what();
    return e.field();
  }
  return "";
}

TEST(GenerationRequestValidate, AcceptsDefaults) { EXPECT_EQ(failing_field(valid()), ""); }

TEST(GenerationRequestValidate, RequiresBaseModel) {
  auto r = valid();
  r.model.base.clear();
  EXPECT_EQ(failing_field(r), "model.base");
}

TEST(GenerationRequestValidate, RejectsSizesNotMultipleOfEight) {
  auto r = valid();
  r.width = 1001;
  EXPECT_EQ(failing_field(r), "width");
  r.width = 1024;
  r.height = 4104;
  EXPECT_EQ(failing_field(r), "height");
  r.height = 32;
  EXPECT_EQ(failing_field(r), "height");
}

TEST(GenerationRequestValidate, MessageSuggestsNearestSize) {
  auto r = valid();
  r.width = 1001;
  try {
    validate(r, RequestLimits{});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("nearest: 1000"), std::string::npos) << e.what();
  }
}

TEST(GenerationRequestValidate, BoundsStepsGuidanceAndBatch) {
  auto r = valid();
  r.steps = 0;
  EXPECT_EQ(failing_field(r), "steps");
  r.steps = 1001;
  EXPECT_EQ(failing_field(r), "steps");
  r = valid();
  r.guidance_scale = std::numeric_limits<double>::infinity();
  EXPECT_EQ(failing_field(r), "guidance_scale");
  r = valid();
  r.guidance_rescale = 1.5;
  EXPECT_EQ(failing_field(r), "guidance_rescale");
  r = valid();
  r.batch_size = 17;
  EXPECT_EQ(failing_field(r), "batch_size");
}

TEST(GenerationRequestValidate, StrengthNeedsInitImage) {
  auto r = valid();
  r.strength = 0.5;
  EXPECT_EQ(failing_field(r), "strength");
  r.init_image = "in.png";
  EXPECT_EQ(failing_field(r), "");
  r.strength = 0.0;
  EXPECT_EQ(failing_field(r), "strength");
}

TEST(GenerationRequestValidate, MaskNeedsInitImage) {
  auto r = valid();
  r.mask_image = "mask.png";
  EXPECT_EQ(failing_field(r), "mask_image");
}

TEST(GenerationRequestValidate, NamesTheBadAdapterIndex) {
  auto r = valid();
  r.loras = {{"a", 0.5, true}, {"b", std::nan(""), true}};
  EXPECT_EQ(failing_field(r), "loras[1].weight");
  r = valid();
  ControlNetSpec c;
  c.type = "canny";
  c.start = 0.8;
  c.end = 0.2;
  r.controlnets = {c};
  EXPECT_EQ(failing_field(r), "controlnets[0].start");
}

TEST(GenerationRequestValidate, RejectsUnknownOutputFormatAndBadTimeout) {
  auto r = valid();
  r.output_format = "gif";
  EXPECT_EQ(failing_field(r), "output_format");
  r = valid();
  r.timeout_seconds = 0.0;
  EXPECT_EQ(failing_field(r), "timeout");
}

TEST(GenerationRequestValidate, OverlongPromptIsInvalidPrompt) {
  auto r = valid();
  r.prompt = std::string(RequestLimits{}.max_prompt_chars + 1, 'a');
  EXPECT_EQ(failing_field(r, ErrorCode::kInvalidPrompt), "prompt");
}

TEST(GenerationRequestValidate, LimitsComeFromConfig) {
  auto r = valid();
  r.width = 2048;
  RequestLimits small;
  small.max_size = 1024;
  EXPECT_THROW(validate(r, small), Error);
}

TEST(GenerationRequestToJson, RoundTripsTheMainFields) {
  auto r = valid();
  r.seed = 42;
  r.loras = {{"style", 0.8, true}};
  auto j = to_json(r);
  EXPECT_EQ(j["prompt"], "a cat");
  EXPECT_EQ(j["model"]["base"], "sdxl-base");
  EXPECT_EQ(j["seed"], 42);
  EXPECT_EQ(j["loras"][0]["name"], "style");
  EXPECT_DOUBLE_EQ(j["loras"][0]["weight"].get<double>(), 0.8);
}

}  // namespace
}  // namespace workers
