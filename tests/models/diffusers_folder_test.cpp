#include "models/io/diffusers_folder.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "utilities/error.h"
#include "support/errors.h"

namespace workers {
namespace {

namespace fs = std::filesystem;

const std::string kTiny = std::string(SDXL_FIXTURES_DIR) + "/tiny-sdxl";

// A scratch diffusers folder with one "unet" component holding the given files.
struct Scratch {
  fs::path root;
  explicit Scratch(const std::string& name) : root(fs::path(testing::TempDir()) / ("diffusers_" + name)) {
    fs::remove_all(root);
    fs::create_directories(root / "unet");
    std::ofstream(root / "model_index.json") << R"({"_class_name":"StableDiffusionXLPipeline",
      "unet":["diffusers","UNet2DConditionModel"],"safety_checker":[null,null]})";
    std::ofstream(root / "unet" / "config.json") << R"({"in_channels":4})";
  }
  ~Scratch() { fs::remove_all(root); }
  void touch(const std::string& file, const std::string& text = "x") { std::ofstream(root / "unet" / file) << text; }
};

std::string error_of(const std::function<void()>& f, ErrorCode expected = ErrorCode::kModelLoadError) {
  auto caught = testing_support::catch_error(f);
  EXPECT_EQ(caught.code, expected) << caught.message;
  return caught.message;
}

TEST(DiffusersFolder, ResolvesTheTinySdxlFixture) {
  auto folder = DiffusersFolder::open(kTiny);
  auto names = folder.component_names();
  for (const char* c : {"unet", "vae", "text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2", "scheduler"}) {
    EXPECT_TRUE(folder.has_component(c)) << c;
  }
  auto unet = folder.component("unet");
  EXPECT_EQ(unet.class_name, "UNet2DConditionModel");
  ASSERT_EQ(unet.weight_files.size(), 1u);
  EXPECT_EQ(fs::path(unet.weight_files[0]).filename(), "diffusion_pytorch_model.safetensors");
  EXPECT_TRUE(unet.config.contains("block_out_channels"));
  auto te = folder.component("text_encoder");
  EXPECT_EQ(fs::path(te.weight_files[0]).filename(), "model.safetensors");
  auto scheduler = folder.component("scheduler");
  EXPECT_TRUE(scheduler.weight_files.empty());
  EXPECT_TRUE(scheduler.config.contains("num_train_timesteps"));
}

TEST(DiffusersFolder, NotAFolderAndUnknownComponentsSayWhatIsThere) {
  EXPECT_NE(error_of([] { DiffusersFolder::open("/nonexistent"); }, ErrorCode::kModelNotFound).find("model_index.json"),
            std::string::npos);
  auto folder = DiffusersFolder::open(kTiny);
  EXPECT_NE(error_of([&] { folder.component("controlnet"); }).find("unet"), std::string::npos);
}

TEST(DiffusersFolder, UsesTheOnlyVariantWhenNoneIsAsked) {
  Scratch s("only_variant");
  s.touch("diffusion_pytorch_model.fp16.safetensors");
  auto unet = DiffusersFolder::open(s.root.string()).component("unet");
  EXPECT_EQ(unet.variant, "fp16");
  EXPECT_EQ(fs::path(unet.weight_files[0]).filename(), "diffusion_pytorch_model.fp16.safetensors");
}

TEST(DiffusersFolder, AskedVariantWinsAndMissingOneListsWhatWasLookedFor) {
  Scratch s("variants");
  s.touch("diffusion_pytorch_model.safetensors");
  s.touch("diffusion_pytorch_model.fp16.safetensors");
  EXPECT_EQ(DiffusersFolder::open(s.root.string()).component("unet").variant, "");
  EXPECT_EQ(DiffusersFolder::open(s.root.string(), "fp16").component("unet").variant, "fp16");
  auto message = error_of([&] { DiffusersFolder::open(s.root.string(), "bf16").component("unet"); });
  EXPECT_NE(message.find("diffusion_pytorch_model.bf16.safetensors"), std::string::npos) << message;
  EXPECT_NE(message.find("model.safetensors.index.bf16.json"), std::string::npos) << message;
}

TEST(DiffusersFolder, SeveralVariantsOnlyAsksToChoose) {
  Scratch s("two_variants");
  s.touch("diffusion_pytorch_model.fp16.safetensors");
  s.touch("diffusion_pytorch_model.bf16.safetensors");
  EXPECT_NE(error_of([&] { DiffusersFolder::open(s.root.string()).component("unet"); }).find("choose one"),
            std::string::npos);
}

TEST(DiffusersFolder, FollowsShardedIndexes) {
  Scratch s("sharded");
  s.touch("diffusion_pytorch_model.safetensors.index.json",
          R"({"metadata":{},"weight_map":{"a":"diffusion_pytorch_model-00001-of-00002.safetensors",
             "b":"diffusion_pytorch_model-00002-of-00002.safetensors",
             "c":"diffusion_pytorch_model-00001-of-00002.safetensors"}})");
  s.touch("diffusion_pytorch_model-00001-of-00002.safetensors");
  s.touch("diffusion_pytorch_model-00002-of-00002.safetensors");
  auto files = DiffusersFolder::open(s.root.string()).component("unet").weight_files;
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(fs::path(files[0]).filename(), "diffusion_pytorch_model-00001-of-00002.safetensors");
  fs::remove(s.root / "unet" / "diffusion_pytorch_model-00002-of-00002.safetensors");
  EXPECT_NE(error_of([&] { DiffusersFolder::open(s.root.string()).component("unet"); }).find("is missing"),
            std::string::npos);
}

TEST(DiffusersFolder, ShardNamesCannotLeaveTheFolder) {
  Scratch s("escape");
  s.touch("diffusion_pytorch_model.safetensors.index.json", R"({"weight_map":{"a":"../../etc/passwd"}})");
  EXPECT_NE(error_of([&] { DiffusersFolder::open(s.root.string()).component("unet"); }).find("outside the folder"),
            std::string::npos);
}

TEST(DiffusersFolder, NoWeightsListsTheNamesTried) {
  Scratch s("empty");
  s.touch("diffusion_pytorch_model.bin");
  auto message = error_of([&] { DiffusersFolder::open(s.root.string()).component("unet"); });
  EXPECT_NE(message.find("diffusion_pytorch_model.safetensors"), std::string::npos) << message;
  EXPECT_NE(message.find("convert them to safetensors"), std::string::npos) << message;
}

}  // namespace
}  // namespace workers
