// The postprocessing stages over mocked upscaler and safety-checker managers: what each asks of
// its manager, what it does to the images, the metadata and infotext it records, and the field
// each refusal names.
#include <algorithm>
#include <cmath>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "mocks/mock_safety_checker_manager.h"
#include "mocks/mock_upscaler_manager.h"
#include "postprocessing/asset_writer.h"
#include "postprocessing/infotext.h"
#include "postprocessing/workers/enhance_stage.h"
#include "postprocessing/workers/resample_upscaler.h"
#include "postprocessing/workers/safety_check_stage.h"
#include "postprocessing/workers/upscale_stage.h"
#include "support/errors.h"

namespace workers {
namespace {

using ::testing::_;
using ::testing::Return;
using ::testing::StrictMock;
using testing_support::catch_error;

Image gradient(int w, int h) {
  Image image{w, h, 3, std::vector<std::uint8_t>(static_cast<std::size_t>(w * h * 3))};
  for (std::size_t i = 0; i < image.pixels.size(); ++i) image.pixels[i] = static_cast<std::uint8_t>(i * 7 % 251);
  return image;
}

GenerationRequest upscale_request(const std::string& model, double scale) {
  GenerationRequest request;
  request.width = request.height = 512;
  request.postprocess.upscale = UpscaleSpec{model, scale, -1};
  return request;
}

TEST(UpscaleStage, AppliesOnlyToJobsThatAskAndChecksTheNameAndScale) {
  auto upscalers = std::make_shared<StrictMock<MockUpscalerManager>>();
  UpscaleStage stage(upscalers);
  EXPECT_FALSE(stage.applies(GenerationRequest{}));
  EXPECT_TRUE(stage.applies(upscale_request("lanczos", 2)));

  EXPECT_CALL(*upscalers, check("lanczos", "postprocess.upscale.model")).Times(3);
  EXPECT_CALL(*upscalers, is_filter("lanczos")).WillRepeatedly(Return(true));
  EXPECT_NO_THROW(stage.check(upscale_request("lanczos", 2)));
  // A filter has no scale of its own.
  EXPECT_EQ(catch_error([&] { stage.check(upscale_request("lanczos", 0)); }).field, "postprocess.upscale.scale");
  // 1024 px × 8 = 8192 is fine, but after a 4× hires fix it would be 4096 × 8 > 16384.
  auto huge = upscale_request("lanczos", 8);
  huge.width = 1024;
  huge.hires = HiresFix{};
  huge.hires->scale = 4;
  EXPECT_EQ(catch_error([&] { stage.check(huge); }).field, "postprocess.upscale.scale");

  EXPECT_CALL(*upscalers, check("4x-missing", "postprocess.upscale.model")).WillOnce([] {
    throw Error(ErrorCode::kModelNotFound, "no upscaler", "postprocess.upscale.model");
  });
  EXPECT_EQ(catch_error([&] { stage.check(upscale_request("4x-missing", 0)); }).code, ErrorCode::kModelNotFound);
  EXPECT_EQ(catch_error([&] { UpscaleStage(nullptr).check(upscale_request("lanczos", 2)); }).field,
            "postprocess.upscale");
}

TEST(UpscaleStage, RunsEachImageToItsScaledSizeAndRecordsTheUpscaler) {
  auto upscalers = std::make_shared<StrictMock<MockUpscalerManager>>();
  auto model = std::make_shared<StrictMock<MockImageUpscaler>>();
  EXPECT_CALL(*upscalers, upscaler("R-ESRGAN 4x+", -1, "postprocess.upscale.model")).WillOnce(Return(model));
  EXPECT_CALL(*model, native_scale()).WillOnce(Return(4));
  EXPECT_CALL(*model, name()).WillOnce(Return("R-ESRGAN 4x+"));
  EXPECT_CALL(*model, upscale(_, 40, 28)).Times(2).WillRepeatedly([](const Image&, int w, int h) {
    return Image{w, h, 3, std::vector<std::uint8_t>(static_cast<std::size_t>(w * h * 3), 9)};
  });
  GenerationResult result;
  result.images = {gradient(10, 7), gradient(10, 7)};
  UpscaleStage(upscalers).run(upscale_request("R-ESRGAN 4x+", 0), result);  // scale 0: the model's 4
  EXPECT_EQ(result.images[1].width, 40);
  EXPECT_EQ(result.metadata["postprocess_upscale"], (nlohmann::json{{"upscaler", "R-ESRGAN 4x+"}, {"scale", 4}}));
  const std::string text = a1111_parameters(result.metadata);
  EXPECT_NE(text.find("Postprocess upscale by: 4, Postprocess upscaler: R-ESRGAN 4x+"), std::string::npos) << text;
}

TEST(ResampleUpscaler, NamesTheFiltersAsA1111AndResizesWithPil) {
  EXPECT_EQ(resampling_filter("Lanczos"), PilFilter::kLanczos);
  EXPECT_EQ(resampling_filter("NEAREST"), PilFilter::kNearest);
  EXPECT_FALSE(resampling_filter("R-ESRGAN 4x+").has_value());
  ResampleUpscaler lanczos(PilFilter::kLanczos);
  EXPECT_EQ(lanczos.name(), "Lanczos");
  EXPECT_EQ(lanczos.native_scale(), 1);
  const Image source = gradient(9, 5);
  EXPECT_EQ(lanczos.upscale(source, 20, 11).pixels, pil_resize(source, 20, 11, PilFilter::kLanczos).pixels);
}

TEST(SafetyCheckStage, BlackBlurAndFlagActOnlyOnFlaggedImages) {
  auto checker = std::make_shared<StrictMock<MockSafetyCheckerManager>>();
  EXPECT_CALL(*checker, check(_)).Times(3).WillRepeatedly(Return(std::vector<bool>{true, false}));
  SafetyCheckStage stage(checker, "off");
  GenerationRequest request;
  EXPECT_FALSE(stage.applies(request));  // the configured mode is off
  for (const char* mode : {"black", "blur", "flag"}) {
    request.postprocess.safety_checker = mode;
    EXPECT_TRUE(stage.applies(request));
    GenerationResult result;
    result.images = {gradient(64, 48), gradient(64, 48)};
    stage.run(request, result);
    EXPECT_EQ(result.data["nsfw_content_detected"], nlohmann::json::array({true, false}));
    EXPECT_EQ(result.images[1].pixels, gradient(64, 48).pixels) << mode;  // the clean one is left alone
    const auto& flagged = result.images[0].pixels;
    if (std::string(mode) == "black") {
      EXPECT_EQ(*std::max_element(flagged.begin(), flagged.end()), 0);
    } else if (std::string(mode) == "flag") {
      EXPECT_EQ(flagged, gradient(64, 48).pixels);
    } else {
      EXPECT_NE(flagged, gradient(64, 48).pixels);
    }
    EXPECT_EQ(result.warnings.size(), std::string(mode) == "flag" ? 0u : 1u);
    // Each asset carries its own verdict.
    const auto assets =
        AssetWriter("unused").write(result.images, result.metadata, AssetOptions{"job", "png", false, false});
    EXPECT_EQ(assets[0]["metadata"]["nsfw_content_detected"], true);
    EXPECT_EQ(assets[1]["metadata"]["nsfw_content_detected"], false);
    EXPECT_NE(a1111_parameters(assets[0]["metadata"]).find("Safety checker: " + std::string(mode) + ", NSFW detected: True"),
              std::string::npos);
  }
}

TEST(SafetyCheckStage, BlurLeavesNoDetailButKeepsSizeAndMeanColour) {
  // A checkerboard of 8-pixel squares with a bright disc: detail at every scale a viewer would use.
  Image image{256, 192, 3, {}};
  image.pixels.resize(256 * 192 * 3);
  double mean_before = 0;
  for (int y = 0; y < 192; ++y) {
    for (int x = 0; x < 256; ++x) {
      const bool square = ((x / 8) + (y / 8)) % 2 == 0;
      const bool disc = (x - 128) * (x - 128) + (y - 96) * (y - 96) < 40 * 40;
      for (int c = 0; c < 3; ++c) {
        const std::uint8_t v = disc ? (c == 0 ? 250 : 30) : (square ? 255 : 0);
        image.pixels[(y * 256 + x) * 3 + c] = v;
        mean_before += v;
      }
    }
  }
  mean_before /= image.pixels.size();
  blur_beyond_recognition(image);
  ASSERT_EQ(image.width, 256);
  ASSERT_EQ(image.height, 192);
  ASSERT_EQ(image.pixels.size(), 256u * 192 * 3);
  double mean_after = 0;
  int max_step = 0;
  for (int y = 0; y < 192; ++y) {
    for (int x = 0; x < 256; ++x) {
      for (int c = 0; c < 3; ++c) {
        const int v = image.pixels[(y * 256 + x) * 3 + c];
        mean_after += v;
        if (x > 0)
          max_step = std::max(max_step, std::abs(v - image.pixels[(y * 256 + x - 1) * 3 + c]));
        if (y > 0)
          max_step = std::max(max_step, std::abs(v - image.pixels[((y - 1) * 256 + x) * 3 + c]));
      }
    }
  }
  mean_after /= image.pixels.size();
  // No edge survives: a 255-level step blurred with sigma = 256 / 16 rises by at most
  // 255 / (16 * sqrt(2 * pi)) = 6.4 levels per pixel.
  EXPECT_LE(max_step, 7);
  // The checkerboard away from the disc is one flat grey (its 16-pixel period is far below sigma).
  for (int y = 0; y < 40; ++y) {
    for (int x = 0; x < 40; ++x) {
      const int v = image.pixels[(y * 256 + x) * 3 + 1];
      ASSERT_NEAR(v, 127.5, 6.0) << y << "," << x;
    }
  }
  EXPECT_NEAR(mean_after, mean_before, 4.0);
}

TEST(SafetyCheckStage, WithoutAModelAJobAskingIsRefusedAndADefaultModeIsAConfigError) {
  auto none = std::make_shared<StrictMock<MockSafetyCheckerManager>>();
  EXPECT_CALL(*none, configured()).WillRepeatedly(Return(false));
  GenerationRequest request;
  request.postprocess.safety_checker = "black";
  EXPECT_EQ(catch_error([&] { SafetyCheckStage(none, "off").check(request); }).field, "postprocess.safety_checker");
  const auto caught = catch_error([&] { SafetyCheckStage(none, "blur"); });
  EXPECT_EQ(caught.code, ErrorCode::kConfigError);
  EXPECT_EQ(caught.field, "workers.instructors.postprocessing.safety_checker.mode");
}

TEST(EnhanceStage, ChecksItsOptionsAndThatColourCorrectionHasAnInitImage) {
  EnhanceStage stage([](const std::string&, const std::string&) { return gradient(8, 8); });
  GenerationRequest request;
  EXPECT_FALSE(stage.applies(request));
  request.postprocess.enhance = {{"contrast", 9}};
  EXPECT_TRUE(stage.applies(request));
  EXPECT_EQ(catch_error([&] { stage.check(request); }).field, "postprocess.enhance.contrast");
  request.postprocess.enhance = {{"color_correction", true}};
  EXPECT_EQ(catch_error([&] { stage.check(request); }).field, "postprocess.enhance.color_correction");
  request.init_image = "init.png";
  EXPECT_NO_THROW(stage.check(request));
  GenerationResult result;
  result.images = {gradient(16, 12)};
  request.postprocess.enhance = {{"brightness", 0.5}};
  stage.run(request, result);
  EXPECT_EQ(result.images[0].width, 16);
  EXPECT_TRUE(result.metadata.contains("enhance"));
  EXPECT_FALSE(a1111_parameters(result.metadata).empty());
}

TEST(PostprocessInfotext, AStandaloneJobKeepsTheSourceParametersAndAddsWhatWasDone) {
  nlohmann::json m = {{"source_parameters", "a cat\nSteps: 20, Seed: 1"},
                      {"postprocess_upscale", {{"upscaler", "Lanczos"}, {"scale", 2}}}};
  EXPECT_EQ(a1111_parameters(m), "a cat\nSteps: 20, Seed: 1, Postprocess upscale by: 2, Postprocess upscaler: Lanczos");
  m["source_parameters"] = "";
  EXPECT_EQ(a1111_parameters(m), "Postprocess upscale by: 2, Postprocess upscaler: Lanczos");
}

TEST(PostprocessInfotext, HiresFixFieldsAsA1111WritesThem) {
  const nlohmann::json m = {{"prompt", "fox"},
                            {"steps", 20},
                            {"seed", 3},
                            {"hires", {{"scale", 2}, {"steps", 10}, {"strength", 0.4}, {"upscaler", "R-ESRGAN 4x+"}}}};
  const std::string text = a1111_parameters(m);
  EXPECT_NE(text.find("Denoising strength: 0.4"), std::string::npos) << text;
  EXPECT_NE(text.find("Hires upscale: 2, Hires steps: 10, Hires upscaler: R-ESRGAN 4x+"), std::string::npos) << text;
}

}  // namespace
}  // namespace workers
