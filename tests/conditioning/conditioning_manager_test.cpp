// SdxlConditioningManager: what decide() chooses and refuses before a job is queued (clip skip,
// ControlNet preprocessors), and the input images it reads from the image roots as tensors
// (tests/fixtures/pipeline-inputs: input.png, mask.png, control.png, 64 × 64).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "conditioning/control_preprocessors.h"
#include "conditioning/managers/sdxl_conditioning_manager.h"
#include "conditioning/workers/image_tensors.h"
#include "conditioning/workers/input_images.h"
#include "mocks/mock_conditioning_manager.h"
#include "models/nn/networks.h"
#include "support/errors.h"
#include "support/tensor_checks.h"

namespace workers {
namespace {

using testing_support::catch_error;

const std::string kInputs = std::string(SDXL_FIXTURES_DIR) + "/pipeline-inputs";

SdxlConditioningManager manager() { return SdxlConditioningManager(ConditioningConfig{{kInputs}}); }

ControlNetSpec control(const std::string& type, const std::string& image = "",
                       const std::string& preprocess = "") {
  ControlNetSpec spec;
  spec.type = type;
  spec.image = image;
  spec.preprocess = preprocess;
  return spec;
}

TEST(SdxlConditioningManager, DecidesTheClipHiddenStateInBothConventions) {
  GenerationRequest request;
  EXPECT_EQ(manager().decide(request).clip_hidden_index, -2);  // SDXL's penultimate by default
  request.clip_skip = 1;
  EXPECT_EQ(manager().decide(request).clip_hidden_index, -3);  // diffusers: -(N + 2)
  request.clip_skip = 2;
  request.clip_skip_style = "a1111";
  EXPECT_EQ(manager().decide(request).clip_hidden_index, -2);  // A1111: -N
}

TEST(SdxlConditioningManager, RefusesClipSkipItCannotMeanNamingTheField) {
  GenerationRequest request;
  request.clip_skip = 0;
  request.clip_skip_style = "a1111";  // A1111 counts from 1
  auto e = catch_error([&] { manager().decide(request); });
  EXPECT_EQ(e.code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(e.field, "clip_skip");
  request.clip_skip_style = "comfy";
  EXPECT_EQ(catch_error([&] { manager().decide(request); }).field, "clip_skip_style");
}

TEST(SdxlConditioningManager, ChoosesEachControlNetsPreprocessor) {
  GenerationRequest request;
  request.init_image = "input.png";
  request.controlnets = {control("canny", "control.png"),         // a map given: none
                         control("canny", "input.png", "canny"),  // asked for
                         control("canny"),                        // from init_image
                         control("depth", "", "normal")};         // asked for, from init_image
  const auto decision = manager().decide(request);
  EXPECT_EQ(decision.control_preprocessors,
            (std::vector<std::string>{"", "canny", "canny", "normal"}));
  EXPECT_TRUE(manager().decide(GenerationRequest{}).control_preprocessors.empty());
}

TEST(SdxlConditioningManager, RefusesAControlMapItCannotComputeNamingTheImage) {
  GenerationRequest request;
  request.init_image = "input.png";
  request.controlnets = {control("canny"), control("depth")};  // depth needs a neural network
  auto e = catch_error([&] { manager().decide(request); });
  EXPECT_EQ(e.code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(e.field, "controlnets[1].image");
  EXPECT_NE(e.message.find("needs a neural network"), std::string::npos) << e.message;
}

TEST(SdxlConditioningManager, RefusesAControlNetWithNoImageToComputeFrom) {
  GenerationRequest request;
  request.controlnets = {control("canny", "control.png"), control("canny", "", "canny")};
  auto e = catch_error([&] { manager().decide(request); });
  EXPECT_EQ(e.code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(e.field, "controlnets[1].image");
  EXPECT_NE(e.message.find("is required (or give init_image"), std::string::npos) << e.message;
}

TEST(SdxlConditioningManager, StatusListsTheClipSkipStyles) {
  EXPECT_EQ(manager().status(), (nlohmann::json{{"clip_skip_styles", {"diffusers", "a1111"}}}));
}

// The decided index reaches the prompt worker unchanged: the manager adds nothing of its own.
TEST(SdxlConditioningManager, EncodesThroughThePromptWorker) {
  c10::InferenceMode inference;
  using testing_support::fixture;
  SdxlTextEncoders encoders;
  encoders.text_encoder = build_clip_text(component_source(fixture("tiny-sdxl"), "text_encoder"));
  encoders.text_encoder_2 =
      build_clip_text(component_source(fixture("tiny-sdxl"), "text_encoder_2"));
  encoders.tokenizer = ClipTokenizer::load(fixture("tiny-sdxl/tokenizer"));
  encoders.tokenizer_2 = ClipTokenizer::load(fixture("tiny-sdxl/tokenizer_2"));
  const PromptTexts texts{"a (red:1.2) cat", std::nullopt, std::string("blurry"), std::nullopt};
  PromptOptions options;
  options.hidden_state_index = -3;
  const auto ours = manager().encode(encoders, texts, options);
  const auto worker = encode_prompts(encoders, texts, options);
  EXPECT_TRUE(torch::equal(ours.positive.embeds, worker.positive.embeds));
  EXPECT_TRUE(torch::equal(ours.negative.pooled, worker.negative.pooled));
  options.hidden_state_index = -2;
  EXPECT_FALSE(torch::equal(ours.positive.embeds,
                            manager().encode(encoders, texts, options).positive.embeds));
}

TEST(SdxlConditioningManager, InitImageIsResizedAndScaledToPlusMinusOne) {
  const auto image = manager().init_image("input.png", "init_image", 48, 40);
  EXPECT_EQ(image.sizes(), (std::vector<std::int64_t>{1, 3, 40, 48}));
  EXPECT_EQ(image.scalar_type(), torch::kFloat);
  EXPECT_GE(image.min().item<float>(), -1.0f);
  EXPECT_LE(image.max().item<float>(), 1.0f);
  EXPECT_LT(image.min().item<float>(), 0.0f);  // [-1, 1], not [0, 1]
  const auto by_hand =
      image_tensor(resize_image(read_image_file(kInputs + "/input.png", 3, "x"), 48, 40));
  EXPECT_TRUE(torch::equal(image, by_hand));
}

TEST(SdxlConditioningManager, MaskIsResizedAndBinarised) {
  const auto mask = manager().mask_image("mask.png", "mask_image", 32, 32);
  EXPECT_EQ(mask.sizes(), (std::vector<std::int64_t>{1, 1, 32, 32}));
  EXPECT_TRUE(torch::logical_or(mask == 0, mask == 1).all().item<bool>());
  EXPECT_GT(mask.sum().item<float>(), 0.0f);           // something to repaint
  EXPECT_LT(mask.sum().item<float>(), 32.0f * 32.0f);  // and something kept
}

TEST(SdxlConditioningManager, ControlImageIsAMapInZeroToOne) {
  ControlNetSpec spec = control("canny", "control.png");
  const auto map = manager().control_image("control.png", "controlnets[0].image", "", spec,
                                           "controlnets[0]", 64, 64);
  EXPECT_EQ(map.sizes(), (std::vector<std::int64_t>{1, 3, 64, 64}));
  EXPECT_GE(map.min().item<float>(), 0.0f);
  EXPECT_LE(map.max().item<float>(), 1.0f);
  EXPECT_TRUE(torch::equal(map, control_tensor(read_image_file(kInputs + "/control.png", 3, "x"))));
}

TEST(SdxlConditioningManager, CannyControlImageIsResizeThenPreprocessThenTensor) {
  ControlNetSpec spec = control("canny", "", "canny");
  spec.threshold_a = 50.0;
  spec.threshold_b = 150.0;
  const auto map =
      manager().control_image("input.png", "init_image", "canny", spec, "controlnets[0]", 48, 48);
  const auto resized = resize_image(read_image_file(kInputs + "/input.png", 3, "x"), 48, 48);
  const auto by_hand =
      control_tensor(preprocess_control_image(resized, "canny", {50.0, 150.0}, "p"));
  EXPECT_TRUE(torch::equal(map, by_hand));
}

TEST(SdxlConditioningManager, UnknownPreprocessorIsNamedUnderTheSpecField) {
  const auto spec = control("canny", "control.png", "sharpen");
  auto e = catch_error([&] {
    manager().control_image("control.png", "controlnets[2].image", "sharpen", spec,
                            "controlnets[2]", 64, 64);
  });
  EXPECT_EQ(e.code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(e.field, "controlnets[2].preprocess");
}

TEST(SdxlConditioningManager, ImagesOutsideTheRootsAreRefusedNamingTheField) {
  const std::string outside =
      std::string(SDXL_FIXTURES_DIR) + "/pipelines.json";  // exists, outside
  auto e = catch_error([&] { manager().init_image(outside, "init_image", 64, 64); });
  EXPECT_EQ(e.code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(e.field, "init_image");
  EXPECT_EQ(
      catch_error([&] { manager().mask_image("../pipelines.json", "mask_image", 64, 64); }).field,
      "mask_image");
  const auto spec = control("canny", "../pipelines.json");
  EXPECT_EQ(catch_error([&] {
              manager().control_image("../pipelines.json", "controlnets[0].image", "", spec,
                                      "controlnets[0]", 64, 64);
            }).field,
            "controlnets[0].image");
  EXPECT_EQ(catch_error([&] { manager().init_image("missing.png", "init_image", 64, 64); }).field,
            "init_image");
}

TEST(SdxlConditioningManager, NoImageRootsMeansNoImages) {
  SdxlConditioningManager none{ConditioningConfig{}};
  auto e = catch_error([&] { none.init_image("input.png", "init_image", 64, 64); });
  EXPECT_EQ(e.field, "init_image");
  EXPECT_NE(e.message.find("workers.instructors.conditioning.image_roots"), std::string::npos)
      << e.message;
}

// The mock's defaults, which instructor tests rely on.
TEST(MockConditioningManager, DecidesTheDefaultsSizedToTheControlNets) {
  ::testing::StrictMock<MockConditioningManager> mock;
  EXPECT_CALL(mock, decide(::testing::_));
  EXPECT_CALL(mock, status());
  GenerationRequest request;
  request.controlnets = {control("canny"), control("depth")};
  const auto decision = mock.decide(request);
  EXPECT_EQ(decision.clip_hidden_index, -2);
  EXPECT_EQ(decision.control_preprocessors, (std::vector<std::string>{"", ""}));
  EXPECT_EQ(mock.status(), manager().status());
}

}  // namespace
}  // namespace workers
