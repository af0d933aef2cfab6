// The safety checker against diffusers 0.30.3 / transformers 4.44 (fixture safety.safetensors,
// model tiny-safety-checker): the tower from pixel_values to 1e-5 (fp32, same weights: float
// rounding only), CLIPImageProcessor from the uint8 inputs to 1e-3 (PIL-exact bicubic, so in
// practice ~1e-6), the verdicts and the folder errors.
#include "postprocessing/workers/safety_checker.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "models/nn/safety_checker_model.h"
#include "support/errors.h"
#include "support/tensor_checks.h"

namespace workers {
namespace {

namespace fs = std::filesystem;
using testing_support::catch_error;
using testing_support::fixture;
using testing_support::max_abs_diff;
using testing_support::Reference;

constexpr double kTowerTolerance = 1e-5;
constexpr double kPreprocessTolerance = 1e-3;

Image image_from(const at::Tensor& hwc) {
  auto t = hwc.contiguous();
  Image image{
      static_cast<int>(t.size(1)), static_cast<int>(t.size(0)), static_cast<int>(t.size(2)), {}};
  image.pixels.assign(t.data_ptr<std::uint8_t>(), t.data_ptr<std::uint8_t>() + t.numel());
  return image;
}

std::string format_error(double error) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3g", error);
  return text;
}

std::vector<float> floats_of(const at::Tensor& t) {
  auto c = t.to(torch::kFloat).contiguous();
  return {c.data_ptr<float>(), c.data_ptr<float>() + c.numel()};
}

// A scratch folder per test (and process: test binaries may run in parallel), removed afterwards.
class ScratchFolder {
 public:
  explicit ScratchFolder(const std::string& name)
      : path_(fs::path(testing::TempDir()) /
              ("safety_" + name + "_" + std::to_string(::getpid()))) {
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~ScratchFolder() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void copy_checker(const fs::path& to, bool with_preprocessor) {
  fs::create_directories(to);
  for (const char* f : {"config.json", "model.safetensors"})
    fs::copy_file(fixture("tiny-safety-checker/") + f, to / f);
  if (with_preprocessor) {
    fs::copy_file(fixture("tiny-safety-checker/preprocessor_config.json"),
                  to / "preprocessor_config.json");
  }
}

TEST(SafetyCheckerParity, TowerMatchesDiffusersFromPixelValues) {
  c10::InferenceMode inference;
  auto model = build_safety_checker(safety_checker_source(fixture("tiny-safety-checker")));
  Reference ref("safety.safetensors");
  auto out = model->forward(ref["pixel_values"]);
  const double pooled = max_abs_diff(out.pooled_output, ref["pooled_output"]);
  const double embeds = max_abs_diff(out.image_embeds, ref["image_embeds"]);
  const double cos = max_abs_diff(out.cos_dist, ref["cos_dist"]);
  const double special = max_abs_diff(out.special_cos_dist, ref["special_cos_dist"]);
  EXPECT_LE(pooled, kTowerTolerance);
  EXPECT_LE(embeds, kTowerTolerance);
  EXPECT_LE(cos, kTowerTolerance);
  EXPECT_LE(special, kTowerTolerance);
  RecordProperty("max_abs_error", format_error(std::max({pooled, embeds, cos, special})));
  auto has_nsfw = ref["has_nsfw"];
  ASSERT_EQ(out.scores.size(), 2u);
  EXPECT_EQ(out.scores[0].has_nsfw, has_nsfw[0].item<bool>());
  EXPECT_EQ(out.scores[1].has_nsfw, has_nsfw[1].item<bool>());
  EXPECT_TRUE(out.scores[0].has_nsfw);
  EXPECT_FALSE(out.scores[1].has_nsfw);
  EXPECT_EQ(out.scores[0].concept_scores.size(), 17u);
  EXPECT_EQ(out.scores[0].special_scores.size(), 3u);
}

TEST(SafetyScores, SpecialCareLowersEveryConceptThresholdByOneHundredth) {
  // Concept 0 sits 0.005 under its threshold: clean alone, flagged once a special concept matched.
  auto cos = torch::tensor({{0.495f, 0.1f}, {0.495f, 0.1f}});
  auto special = torch::tensor({{0.2f}, {0.31f}});
  auto scores = safety_scores(cos, special, torch::tensor({0.5f, 0.5f}), torch::tensor({0.3f}));
  EXPECT_FALSE(scores[0].special_care);
  EXPECT_FALSE(scores[0].has_nsfw);
  EXPECT_TRUE(scores[1].special_care);
  EXPECT_TRUE(scores[1].has_nsfw);
  EXPECT_EQ(scores[1].bad_concepts, std::vector<int>{0});
  EXPECT_DOUBLE_EQ(scores[1].concept_scores[0], 0.005);  // round(0.495 - 0.5 + 0.01, 3)
  EXPECT_DOUBLE_EQ(scores[1].special_scores[0], 0.01);
}

TEST(SafetyScores, ScoresAreRoundedToThreeDecimalsBeforeTheComparison) {
  // 0.0004 over the threshold rounds to 0 (diffusers' forward(); forward_onnx would flag it),
  // 0.0007 rounds to 0.001 and flags.
  auto thresholds = torch::tensor({0.25f});
  auto scores = safety_scores(torch::tensor({{0.2504f}, {0.2507f}}), torch::zeros({2, 1}),
                              thresholds, torch::tensor({1.0f}));
  EXPECT_FALSE(scores[0].has_nsfw);
  EXPECT_DOUBLE_EQ(scores[0].concept_scores[0], 0.0);
  EXPECT_TRUE(scores[1].has_nsfw);
  EXPECT_DOUBLE_EQ(scores[1].concept_scores[0], 0.001);
}

TEST(ClipPreprocess, MatchesTransformersPixelValues) {
  Reference ref("safety.safetensors");
  std::ifstream in(fixture("tiny-safety-checker/preprocessor_config.json"));
  const auto config =
      ClipImageProcessorConfig::from_json(nlohmann::json::parse(in), "preprocessor_config.json");
  auto expected = ref["pixel_values"];
  for (int i = 0; i < 2; ++i) {
    SCOPED_TRACE("input" + std::to_string(i));
    auto pixels = clip_preprocess(image_from(ref["input" + std::to_string(i) + "_uint8"]), config);
    ASSERT_EQ(pixels.height, 224);
    ASSERT_EQ(pixels.width, 224);
    auto got = torch::from_blob(pixels.values.data(), {3, 224, 224}, torch::kFloat).clone();
    const double error = max_abs_diff(got, expected[i]);
    EXPECT_LE(error, kPreprocessTolerance);
    RecordProperty("max_abs_error_" + std::to_string(i), format_error(error));
  }
}

TEST(ClipPreprocess, CropLargerThanTheImagePadsWithZerosBeforeNormalising) {
  ClipImageProcessorConfig config;
  config.do_resize = false;
  config.crop_height = 4;
  config.crop_width = 3;
  Image image{2, 1, 1, {255, 255}};  // gray: replicated to RGB
  auto pixels = clip_preprocess(image, config);
  ASSERT_EQ(pixels.values.size(), 3u * 4 * 3);
  // transformers pads ceil((4 - 1) / 2) = 2 rows above and ceil((3 - 2) / 2) = 1 column left.
  const float white = (1.0f - config.image_mean[0]) / config.image_std[0];
  const float black = (0.0f - config.image_mean[0]) / config.image_std[0];
  for (int y = 0; y < 4; ++y) {
    for (int x = 0; x < 3; ++x) {
      const bool inside = y == 2 && x >= 1;
      EXPECT_FLOAT_EQ(pixels.values[y * 3 + x], inside ? white : black) << y << "," << x;
    }
  }
}

TEST(ClipPreprocess, OldFeatureExtractorIntegerSizesAreShortestEdgeAndSquareCrop) {
  auto config = ClipImageProcessorConfig::from_json(
      nlohmann::json::parse(R"({"size": 200, "crop_size": 180, "resample": 2})"),
      "preprocessor_config.json");
  EXPECT_EQ(config.shortest_edge, 200);
  EXPECT_EQ(config.crop_height, 180);
  EXPECT_EQ(config.crop_width, 180);
  EXPECT_EQ(config.resample, PilFilter::kBilinear);
  auto bad = catch_error([] {
    ClipImageProcessorConfig::from_json(nlohmann::json::parse(R"({"resample": 4})"), "pp.json");
  });
  EXPECT_EQ(bad.code, ErrorCode::kModelLoadError);
  EXPECT_NE(bad.message.find("resample"), std::string::npos);
}

TEST(SafetyChecker, CheckFlagsTheFirstImageAndPassesTheSecond) {
  SafetyChecker checker(fixture("tiny-safety-checker"));
  Reference ref("safety.safetensors");
  auto verdicts = checker.check({image_from(ref["input0_uint8"]), image_from(ref["input1_uint8"])});
  ASSERT_EQ(verdicts.size(), 2u);
  EXPECT_TRUE(verdicts[0].has_nsfw);
  EXPECT_FALSE(verdicts[1].has_nsfw);
  EXPECT_EQ(verdicts[0].concept_scores.size(), 17u);
  EXPECT_EQ(verdicts[0].special_scores.size(), 3u);

  auto from_tensor = checker.check_pixel_values(floats_of(ref["pixel_values"]), 2);
  ASSERT_EQ(from_tensor.size(), 2u);
  EXPECT_TRUE(from_tensor[0].has_nsfw);
  EXPECT_FALSE(from_tensor[1].has_nsfw);
  EXPECT_EQ(from_tensor[0].concept_scores, verdicts[0].concept_scores);
}

TEST(SafetyChecker, PipelineLayoutFindsTheSiblingFeatureExtractor) {
  ScratchFolder root("layout");
  copy_checker(root.path() / "safety_checker", false);
  fs::create_directories(root.path() / "feature_extractor");
  fs::copy_file(fixture("tiny-safety-checker/preprocessor_config.json"),
                root.path() / "feature_extractor" / "preprocessor_config.json");
  Reference ref("safety.safetensors");
  const std::vector<Image> images{image_from(ref["input0_uint8"]), image_from(ref["input1_uint8"])};
  for (const auto& folder : {root.path() / "safety_checker", root.path()}) {
    SCOPED_TRACE(folder.string());
    SafetyChecker checker(folder.string());
    EXPECT_EQ(checker.preprocessor().shortest_edge, 224);
    auto verdicts = checker.check(images);
    EXPECT_TRUE(verdicts[0].has_nsfw);
    EXPECT_FALSE(verdicts[1].has_nsfw);
  }
}

TEST(SafetyChecker, MissingFilesAreNamed) {
  ScratchFolder root("missing");
  const auto folder = root.path() / "safety_checker";
  fs::create_directories(folder);
  auto no_config = catch_error([&] { SafetyChecker checker(folder.string()); });
  EXPECT_EQ(no_config.code, ErrorCode::kModelNotFound);
  EXPECT_NE(no_config.message.find("config.json"), std::string::npos) << no_config.message;

  fs::copy_file(fixture("tiny-safety-checker/config.json"), folder / "config.json");
  auto no_preprocessor = catch_error([&] { SafetyChecker checker(folder.string()); });
  EXPECT_EQ(no_preprocessor.code, ErrorCode::kModelNotFound);
  EXPECT_NE(no_preprocessor.message.find("preprocessor_config.json"), std::string::npos)
      << no_preprocessor.message;

  fs::copy_file(fixture("tiny-safety-checker/preprocessor_config.json"),
                folder / "preprocessor_config.json");
  auto no_weights = catch_error([&] { SafetyChecker checker(folder.string()); });
  EXPECT_EQ(no_weights.code, ErrorCode::kModelLoadError);
  EXPECT_NE(no_weights.message.find("model.safetensors"), std::string::npos) << no_weights.message;
}

TEST(SafetyChecker, WeightsWithMissingOrUnexpectedKeysAreRefusedByName) {
  ScratchFolder root("keys");
  copy_checker(root.path(), true);
  auto original = SafetensorsFile::open(fixture("tiny-safety-checker/model.safetensors"));
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& name : original->names()) {
    if (name != "visual_projection.weight") tensors.emplace_back(name, original->tensor(name));
  }
  tensors.emplace_back("vision_model.text_projection.weight", torch::zeros({2, 2}));
  fs::remove(root.path() / "model.safetensors");
  write_safetensors((root.path() / "model.safetensors").string(), tensors);
  auto caught = catch_error([&] { SafetyChecker checker(root.path().string()); });
  EXPECT_EQ(caught.code, ErrorCode::kModelLoadError);
  EXPECT_NE(caught.message.find("Missing: visual_projection.weight"), std::string::npos)
      << caught.message;
  EXPECT_NE(caught.message.find("Unexpected: vision_model.text_projection.weight"),
            std::string::npos)
      << caught.message;
}

}  // namespace
}  // namespace workers
