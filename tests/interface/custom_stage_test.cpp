// The registration proof: a postprocessing stage that only this test knows is added to the
// registry with one line, listed in the config, and runs in a served job before encode, with no
// change outside tests/.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "conditioning/workers/input_images.h"
#include "inference/managers/batch_manager.h"
#include "interface/composition.h"
#include "interface/workers_interface.h"
#include "mocks/mock_conditioning_manager.h"
#include "mocks/mock_device_manager.h"
#include "mocks/mock_memory_manager.h"
#include "mocks/mock_model_managers.h"
#include "mocks/mock_pipeline_manager.h"
#include "mocks/mock_scheduler_catalog.h"
#include "postprocessing/managers/stage_registry.h"
#include "support/serve_pipes.h"

namespace workers {
namespace {

namespace fs = std::filesystem;
using ::testing::_;
using ::testing::AnyNumber;
using ::testing::StrictMock;

// Inverts every pixel of every image: a stage a host might add, unknown to the production registry.
class InvertStage : public PostprocessingStage {
 public:
  std::string name() const override { return "invert"; }
  void run(const GenerationRequest&, GenerationResult& result) override {
    for (auto& image : result.images) {
      for (auto& v : image.pixels) v = static_cast<std::uint8_t>(255 - v);
    }
  }
};

// A 2×2 RGB image whose every channel value differs, so a stage that skipped a pixel shows.
Image known_pixels() {
  return Image{2, 2, 3, {0, 10, 20, 30, 40, 50, 200, 210, 220, 253, 254, 255}};
}

// Serves one inference request over pipes and returns its response line.
nlohmann::json serve_one(WorkersInterface& engine, const nlohmann::json& request) {
  const auto written = testing_support::serve_over_pipes(engine, request.dump() + "\n").written;
  for (std::size_t start = 0, nl; (nl = written.find('\n', start)) != std::string::npos; start = nl + 1) {
    auto message = nlohmann::json::parse(written.substr(start, nl - start));
    if (!message.contains("event")) return message;  // progress events are not the answer
  }
  ADD_FAILURE() << "no response in: " << written;
  return {};
}

TEST(CustomStage, ARegisteredStageRunsInTheConfiguredOrderBeforeEncode) {
  auto device = std::make_shared<StrictMock<MockDeviceManager>>();
  auto conditioning = std::make_shared<StrictMock<MockConditioningManager>>();
  auto pipeline = std::make_shared<StrictMock<MockPipelineManager>>();
  auto schedulers = std::make_shared<StrictMock<MockSchedulerCatalog>>();
  EXPECT_CALL(*device, select(_)).Times(AnyNumber());
  EXPECT_CALL(*device, apply(_)).Times(AnyNumber());
  EXPECT_CALL(*device, inventory()).Times(AnyNumber());
  EXPECT_CALL(*conditioning, decide(_));
  // The job's model "m" is resolved once when it starts.
  MockModelManagers models;
  auto memory = std::make_shared<StrictMock<MockMemoryManager>>();
  allow_unlimited_memory(*memory);
  ModelHandle base;
  base.reference = "m";
  base.path = "/models/m";
  EXPECT_CALL(*models.resolver, open("m", "model.base", "")).WillOnce(::testing::Return(base));
  EXPECT_CALL(*pipeline, generate(_, _)).WillOnce([](const JobPlan& plan, const JobContext&) {
    EXPECT_EQ(plan.stages, (std::vector<std::string>{"invert", "encode", "thumbnail"}));
    GenerationResult result;
    result.images = {known_pixels()};
    result.metadata = {{"prompt", plan.request.prompt}, {"seed", 5}};
    return result;
  });

  WorkersConfig config;
  const fs::path root =
      fs::path(testing::TempDir()) / ("custom_stage_" + std::to_string(::getpid()));
  fs::remove_all(root);
  config.postprocessing.output_root = root.string();
  config.postprocessing.stages = {"invert", "encode", "thumbnail"};
  auto factory = [&](const WorkersConfig&) {
    Managers m;
    m.device = device;
    m.conditioning = conditioning;
    m.models = models.roles();
    m.memory = memory;
    m.pipeline = pipeline;
    m.batch = std::make_shared<ChunkingBatchManager>(0);
    m.schedulers = schedulers;
    m.stages = default_stage_registry();
    m.stages->add("invert",
                  [](const PostprocessingConfig&) { return std::make_shared<InvertStage>(); });
    m.channel = production_channel();
    return m;
  };

  nlohmann::json response;
  {
    WorkersInterface engine(config, factory);
    response = serve_one(engine, {{"request_id", "inverted"},
                                  {"message_type", "inference_request"},
                                  {"model", "m"},
                                  {"prompt", "a cat"},
                                  {"steps", 2},
                                  {"seed", 5}});
  }
  ASSERT_EQ(response["success"], true) << response.dump();
  const auto& assets = response["data"]["assets"];
  ASSERT_EQ(assets.size(), 1u) << response.dump();
  EXPECT_EQ(assets[0]["thumbnail"]["format"], "webp");  // the stages after it still ran
  const Image written = read_image_file(assets[0]["path"].get<std::string>(), 3, "test");
  Image expected = known_pixels();
  for (auto& v : expected.pixels) v = static_cast<std::uint8_t>(255 - v);
  EXPECT_EQ(written.width, 2);
  EXPECT_EQ(written.height, 2);
  EXPECT_EQ(written.pixels, expected.pixels);
  fs::remove_all(root);
}

}  // namespace
}  // namespace workers
