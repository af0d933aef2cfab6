#include "models/managers/torch_model_manager.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "support/errors.h"
#include "utilities/error.h"

namespace workers {
namespace {

namespace fs = std::filesystem;

ModelConfig fixture_roots(std::uint64_t budget = 0) {
  ModelConfig c;
  c.model_roots = {SDXL_FIXTURES_DIR};
  c.cache_bytes = budget;
  return c;
}

ErrorCode code_of(const std::function<void()>& f) { return testing_support::catch_error(f).code; }

TEST(TorchModelManager, LoadsBothLayoutsOnceAndUnloads) {
  TorchModelManager manager(fixture_roots(), "cpu", "float32", SDXL_DATA_DIR);
  auto folder = manager.load({"tiny-sdxl", "base"});
  EXPECT_EQ(folder.layout, "diffusers");
  EXPECT_EQ(folder.kind, "sdxl-base");
  EXPECT_GT(folder.bytes, 1u << 20);
  EXPECT_EQ(manager.loaded().size(), 3u);  // unet, text encoders, vae
  auto again = manager.load({"tiny-sdxl", "base"});
  EXPECT_EQ(again.bytes, folder.bytes);  // cached, not loaded twice
  EXPECT_EQ(manager.loaded().size(), 3u);
  // The tiny checkpoint is not shaped like SDXL 1.0 (8 norm groups): its configs come from the folder.
  auto single = manager.open("tiny-sdxl-single-file", "model", "tiny-sdxl");
  EXPECT_EQ(single.layout, ModelLayout::kSingleFile);
  manager.unet(single);
  EXPECT_EQ(manager.loaded().size(), 4u);
  EXPECT_EQ(manager.loaded().front().layout, "single_file");
  EXPECT_EQ(code_of([&] { manager.unet(manager.open("tiny-sdxl-single-file", "model")); }),
            ErrorCode::kModelLoadError);  // without them, the shapes contradict SDXL's 32 groups
  EXPECT_TRUE(manager.unload({"tiny-sdxl", "base"}));
  EXPECT_FALSE(manager.unload({"tiny-sdxl", "base"}));
  EXPECT_EQ(manager.loaded().size(), 1u);  // the single file's UNet
}

TEST(TorchModelManager, SingleFileComponentsEqualTheFolderOnesWithBundledTokenizers) {
  TorchModelManager manager(fixture_roots(), "cpu", "float32", SDXL_DATA_DIR);
  auto folder = manager.open("tiny-sdxl", "model");
  auto single = manager.open("tiny-sdxl-single-file", "model", "tiny-sdxl");
  auto a = manager.unet(folder), b = manager.unet(single);
  auto pa = (*a)->named_parameters(), pb = (*b)->named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (const auto& p : pa) EXPECT_TRUE(torch::equal(p.value(), pb[p.key()])) << p.key();
  auto ta = manager.text_encoders(folder), tb = manager.text_encoders(single);
  EXPECT_EQ(ta->tokenizer->encode("a photo of a cat", 77), tb->tokenizer->encode("a photo of a cat", 77));
  EXPECT_EQ(ta->tokenizer_2->encode("a cat!", 77), tb->tokenizer_2->encode("a cat!", 77));
  EXPECT_EQ(manager.scheduler_config(single)["_class_name"], "EulerDiscreteScheduler");
  EXPECT_EQ(manager.scheduler_config(folder)["_class_name"], "EulerDiscreteScheduler");
}

TEST(TorchModelManager, KindsRolesAndRefusals) {
  TorchModelManager manager(fixture_roots(), "cpu", "float32", SDXL_DATA_DIR);
  EXPECT_EQ(manager.open("tiny-sdxl-refiner", "model").kind, "sdxl-refiner");
  EXPECT_FALSE(manager.open("tiny-sdxl-refiner", "model").force_zeros_for_empty_prompt);
  EXPECT_EQ(manager.open("tiny-sdxl-inpaint", "model").kind, "sdxl-inpaint");
  EXPECT_FALSE(manager.text_encoders(manager.open("tiny-sdxl-refiner", "model"))->text_encoder);
  EXPECT_EQ(code_of([&] { manager.load({"tiny-sdxl", "lora"}); }), ErrorCode::kWorkerUnavailable);
  EXPECT_EQ(code_of([&] { manager.load({"tiny-sdxl", "refiner"}); }), ErrorCode::kInvalidRequest);
  EXPECT_EQ(code_of([&] { manager.load({"missing-model", "base"}); }), ErrorCode::kModelNotFound);
  EXPECT_EQ(code_of([&] { manager.load({"../fixtures/tiny-sdxl", "base"}); }), ErrorCode::kInvalidRequest);
}

TEST(TorchModelManager, BareVaeFolderLoadsAsAVae) {
  const fs::path root = fs::path(testing::TempDir()) / ("vae_root_" + std::to_string(::getpid()));
  fs::remove_all(root);
  fs::create_directories(root);
  fs::copy(std::string(SDXL_FIXTURES_DIR) + "/tiny-sdxl/vae", root / "my-vae");
  ModelConfig config;
  config.model_roots = {root.string()};
  TorchModelManager manager(config, "cpu", "float32", SDXL_DATA_DIR);
  auto vae = manager.open_vae("my-vae", "model.vae");
  EXPECT_EQ(vae.kind, "vae");
  EXPECT_TRUE(manager.vae(vae));
  EXPECT_EQ(manager.load({"my-vae", "vae"}).kind, "vae");
  EXPECT_EQ(testing_support::catch_error([&] { manager.unet(vae); }).field, "model");
  fs::remove_all(root);
}

TEST(TorchModelManager, BudgetEvictsIdleComponentsButNotHeldOnes) {
  TorchModelManager manager(fixture_roots(1), "cpu", "float32", SDXL_DATA_DIR);  // a 1-byte budget
  auto model = manager.open("tiny-sdxl", "model");
  auto unet = manager.unet(model);
  manager.vae(model);
  EXPECT_EQ(manager.loaded().size(), 2u);  // the UNet is held by "a job", the VAE is the newest
  unet.reset();
  manager.text_encoders(model);
  ASSERT_EQ(manager.loaded().size(), 1u);  // both idle ones went
  EXPECT_EQ(manager.loaded().front().component, "text_encoders");
}

TEST(TorchModelManager, CorruptCheckpointIsAModelLoadError) {
  const fs::path root = fs::path(testing::TempDir()) / "corrupt_root";
  fs::create_directories(root);
  std::ofstream(root / "broken.safetensors") << "definitely not safetensors";
  ModelConfig config;
  config.model_roots = {root.string()};
  TorchModelManager manager(config, "cpu", "float32", SDXL_DATA_DIR);
  EXPECT_EQ(code_of([&] { manager.load({"broken", "base"}); }), ErrorCode::kModelLoadError);
  EXPECT_TRUE(manager.loaded().empty());
  fs::remove_all(root);
}

}  // namespace
}  // namespace workers
