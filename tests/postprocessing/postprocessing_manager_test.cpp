#include "postprocessing/managers/postprocessing_manager.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "mocks/mock_postprocessing_stage.h"
#include "postprocessing/asset_writer.h"
#include "postprocessing/image_codec.h"
#include "postprocessing/managers/stage_registry.h"
#include "postprocessing/workers/encode_stage.h"
#include "postprocessing/workers/thumbnail_stage.h"
#include "support/errors.h"

namespace workers {
namespace {

namespace fs = std::filesystem;
using ::testing::_;
using ::testing::HasSubstr;
using ::testing::InSequence;
using ::testing::Invoke;
using ::testing::StrictMock;
using testing_support::catch_error;

Image solid(int w, int h, std::uint8_t v) {
  return Image{w, h, 3, std::vector<std::uint8_t>(w * h * 3, v)};
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct TempRoot {
  fs::path path = fs::path(testing::TempDir()) / ("stages_" + std::to_string(::getpid()));
  TempRoot() { fs::remove_all(path); }
  ~TempRoot() { fs::remove_all(path); }
};

// A registry whose stages are the given mocks (shared, so the test keeps its expectations).
StageRegistry registry_of(
    const std::map<std::string, std::shared_ptr<PostprocessingStage>>& stages) {
  StageRegistry registry;
  for (const auto& [name, stage] : stages) {
    registry.add(name, [stage](const PostprocessingConfig&) { return stage; });
  }
  return registry;
}

PostprocessingConfig config_with(std::vector<std::string> stages, std::string root = "outputs") {
  PostprocessingConfig config;
  config.output_root = std::move(root);
  config.stages = std::move(stages);
  return config;
}

TEST(StageRegistry, AddsAndListsStagesByName) {
  StageRegistry registry;
  EXPECT_FALSE(registry.has("encode"));
  registry.add("thumbnail",
               [](const PostprocessingConfig&) { return std::make_shared<ThumbnailStage>(); });
  registry.add("encode", [](const PostprocessingConfig& c) {
    return std::make_shared<EncodeStage>(c.output_root);
  });
  EXPECT_TRUE(registry.has("encode"));
  EXPECT_EQ(registry.names(), (std::vector<std::string>{"encode", "thumbnail"}));
  EXPECT_EQ(registry.make("thumbnail", PostprocessingConfig{})->name(), "thumbnail");
}

TEST(StageRegistry, SecondAddOfANameIsRefused) {
  auto registry = default_stage_registry();
  EXPECT_THROW(
      registry->add("encode",
                    [](const PostprocessingConfig&) { return std::make_shared<ThumbnailStage>(); }),
      std::invalid_argument);
  EXPECT_THROW(registry->add("other", nullptr), std::invalid_argument);
  EXPECT_EQ(registry->names(),
            (std::vector<std::string>{"encode", "enhance", "safety_check", "thumbnail", "upscale"}));
}

TEST(StageRegistry, UnknownNameIsAConfigErrorNamingTheFieldAndTheKnownStages) {
  const auto caught =
      catch_error([] { default_stage_registry()->make("sharpen", PostprocessingConfig{}); });
  EXPECT_EQ(caught.code, ErrorCode::kConfigError);
  EXPECT_EQ(caught.field, "workers.instructors.postprocessing.stages");
  EXPECT_EQ(caught.message,
            "sharpen is not a postprocessing stage; known: encode, enhance, safety_check, thumbnail, upscale");
}

TEST(StagedPostprocessingManager, UnknownConfiguredStageFailsAtConstruction) {
  const auto caught = catch_error([] {
    StagedPostprocessingManager(*default_stage_registry(), config_with({"encode", "sharpen"}));
  });
  EXPECT_EQ(caught.code, ErrorCode::kConfigError);
  EXPECT_EQ(caught.field, "workers.instructors.postprocessing.stages");
}

TEST(StagedPostprocessingManager, AStageListedBeforeOneItFollowsFailsAtConstruction) {
  const auto caught = catch_error([] {
    StagedPostprocessingManager(*default_stage_registry(), config_with({"thumbnail", "encode"}));
  });
  EXPECT_EQ(caught.code, ErrorCode::kConfigError);
  EXPECT_EQ(caught.field, "workers.instructors.postprocessing.stages");
  EXPECT_NE(caught.message.find("list \"encode\" before it"), std::string::npos) << caught.message;
  // Only encode writes the images: a list without it is flagged for the instructor to refuse.
  EXPECT_TRUE(StagedPostprocessingManager(*default_stage_registry(), config_with({"encode"})).writes_outputs());
  StageRegistry registry = registry_of({{"a", std::make_shared<StrictMock<MockPostprocessingStage>>()}});
  EXPECT_FALSE(StagedPostprocessingManager(registry, config_with({"a"})).writes_outputs());
}

TEST(StagedPostprocessingManager, AStageThatChangesTheImagesListedAfterEncodeFailsAtConstruction) {
  for (const char* late : {"upscale", "enhance", "safety_check"}) {
    const auto caught = catch_error([&] {
      StagedPostprocessingManager(*default_stage_registry(), config_with({"encode", late}));
    });
    EXPECT_EQ(caught.code, ErrorCode::kConfigError) << late;
    EXPECT_EQ(caught.field, "workers.instructors.postprocessing.stages");
    EXPECT_NE(caught.message.find("list \"" + std::string(late) + "\" before it"), std::string::npos) << caught.message;
  }
  // The default list is in a valid order.
  EXPECT_NO_THROW(StagedPostprocessingManager(*default_stage_registry(), PostprocessingConfig{}));
}

TEST(StagedPostprocessingManager, PlansTheStagesThatApplyAfterTheirChecks) {
  auto wanted = std::make_shared<StrictMock<MockPostprocessingStage>>();
  auto skipped = std::make_shared<StrictMock<MockPostprocessingStage>>();
  auto refusing = std::make_shared<StrictMock<MockPostprocessingStage>>();
  StagedPostprocessingManager manager(registry_of({{"wanted", wanted}, {"skipped", skipped}, {"refusing", refusing}}),
                                      config_with({"skipped", "wanted"}));
  EXPECT_CALL(*skipped, applies(_)).WillOnce(::testing::Return(false));  // and is not checked
  EXPECT_CALL(*wanted, applies(_)).WillOnce(::testing::Return(true));
  EXPECT_CALL(*wanted, check(_));
  EXPECT_EQ(manager.plan(GenerationRequest{}), std::vector<std::string>{"wanted"});

  StagedPostprocessingManager strict(registry_of({{"refusing", refusing}}), config_with({"refusing"}));
  EXPECT_CALL(*refusing, applies(_)).WillOnce(::testing::Return(true));
  EXPECT_CALL(*refusing, check(_)).WillOnce(Invoke([](const GenerationRequest&) {
    throw_invalid("postprocess.x", "bad");
  }));
  EXPECT_EQ(catch_error([&] { strict.plan(GenerationRequest{}); }).field, "postprocess.x");
}

TEST(StagedPostprocessingManager, BuildsEachConfiguredStageOnceAtConstruction) {
  StageRegistry registry;
  int built = 0;
  registry.add("a", [&](const PostprocessingConfig&) {
    ++built;
    return std::make_shared<StrictMock<MockPostprocessingStage>>();
  });
  registry.add("unused", [&](const PostprocessingConfig&) -> std::shared_ptr<PostprocessingStage> {
    ADD_FAILURE() << "a stage the config does not list was built";
    return nullptr;
  });
  StagedPostprocessingManager manager(registry, config_with({"a"}));
  EXPECT_EQ(built, 1);
  EXPECT_EQ(manager.stages(), std::vector<std::string>{"a"});
}

TEST(StagedPostprocessingManager, RunsTheStagesInOrderThenDropsTheImages) {
  auto first = std::make_shared<StrictMock<MockPostprocessingStage>>();
  auto second = std::make_shared<StrictMock<MockPostprocessingStage>>();
  StagedPostprocessingManager manager(registry_of({{"first", first}, {"second", second}}),
                                      config_with({"second", "first"}));
  EXPECT_EQ(manager.stages(), (std::vector<std::string>{"second", "first"}));
  GenerationResult result;
  result.images = {solid(2, 2, 1)};
  {
    InSequence order;
    EXPECT_CALL(*second, run(_, _))
        .WillOnce(Invoke([](const GenerationRequest&, GenerationResult& r) {
          EXPECT_EQ(r.images.size(), 1u);  // every stage still sees the pixels
          r.data["trail"].push_back("second");
        }));
    EXPECT_CALL(*first, run(_, _))
        .WillOnce(Invoke([](const GenerationRequest&, GenerationResult& r) {
          EXPECT_EQ(r.images.size(), 1u);
          r.data["trail"].push_back("first");
        }));
  }
  manager.run(manager.stages(), GenerationRequest{}, result);
  EXPECT_EQ(result.data["trail"], nlohmann::json::parse(R"(["second", "first"])"));
  EXPECT_TRUE(result.images.empty());
}

TEST(StagedPostprocessingManager, AStageItDidNotBuildIsAnInternalErrorAndNothingRuns) {
  auto only = std::make_shared<StrictMock<MockPostprocessingStage>>();  // no run expected
  StagedPostprocessingManager manager(registry_of({{"only", only}}), config_with({"only"}));
  GenerationResult result;
  EXPECT_EQ(catch_error([&] {
              manager.run({"only", "extra"}, GenerationRequest{}, result);
            }).code,
            ErrorCode::kInternalError);
}

TEST(StagedPostprocessingManager, StatusReportsTheAbsoluteRootFormatsAndStages) {
  StagedPostprocessingManager manager(*default_stage_registry(),
                                      config_with({"encode", "thumbnail"}, "outputs"));
  const auto status = manager.status();
  EXPECT_EQ(status["output_root"], fs::absolute("outputs").string());
  EXPECT_EQ(status["formats"], nlohmann::json::parse(R"(["png", "jpeg", "webp"])"));
  EXPECT_EQ(status["stages"], nlohmann::json::parse(R"(["encode", "thumbnail"])"));
}

TEST(ThumbnailStage, AddsASmallWebpToEachAsset) {
  GenerationResult result;
  result.images = {solid(600, 300, 9), solid(64, 64, 200)};
  result.data["assets"] = {{{"type", "image"}}, {{"type", "image"}}};
  ThumbnailStage().run(GenerationRequest{}, result);
  for (std::size_t i = 0; i < 2; ++i) {
    const auto& t = result.data["assets"][i]["thumbnail"];
    EXPECT_EQ(t["format"], "webp");
    EXPECT_EQ(t["base64"],
              base64_encode(encode_image(thumbnail(result.images[i], 256), "webp", {}, 80)));
    EXPECT_EQ(t["base64"].get<std::string>().rfind("UklGR", 0), 0u);  // "RIFF": a WEBP container
  }
  EXPECT_EQ(thumbnail(result.images[0], 256).width, 256);  // the longer side is at most 256 px
}

TEST(ThumbnailStage, WithoutAnAssetPerImageIsAnInternalError) {
  GenerationResult result;
  result.images = {solid(8, 8, 1)};
  const auto caught = catch_error([&] { ThumbnailStage().run(GenerationRequest{}, result); });
  EXPECT_EQ(caught.code, ErrorCode::kInternalError);
  EXPECT_THAT(caught.message, HasSubstr("encode"));
}

// The default stage list must answer exactly what AssetWriter answered with its built-in thumbnail.
TEST(DefaultStages, ProduceTheAssetsAssetWriterDidWithTheThumbnail) {
  TempRoot root;
  StagedPostprocessingManager manager(
      *default_stage_registry(), config_with({"encode", "thumbnail"}, (root.path / "a").string()));
  GenerationRequest request;
  request.request_id = "job-7";
  request.return_base64 = true;
  GenerationResult result;
  result.images = {solid(300, 200, 10), solid(300, 200, 220)};
  result.metadata = {{"prompt", "a cat"}, {"steps", 4}, {"seed", 42}, {"model", "tiny"}};
  const auto images = result.images;
  manager.run(manager.stages(), request, result);
  EXPECT_TRUE(result.images.empty());

  AssetOptions options;
  options.name = "job-7";
  options.return_base64 = true;
  auto expected = AssetWriter((root.path / "b").string()).write(images, result.metadata, options);
  const auto& assets = result.data["assets"];
  ASSERT_EQ(assets.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    const std::string path = assets[i]["path"];
    EXPECT_EQ(fs::path(path),
              fs::weakly_canonical(root.path / "a") / ("job-7-" + std::to_string(i) + ".png"));
    EXPECT_EQ(slurp(path), slurp(expected[i]["path"]));
    expected[i]["path"] = path;
    expected[i]["thumbnail"] = {
        {"format", "webp"},
        {"base64", base64_encode(encode_image(thumbnail(images[i], 256), "webp", {}, 80))}};
  }
  EXPECT_EQ(assets.dump(), expected.dump());
}

}  // namespace
}  // namespace workers
