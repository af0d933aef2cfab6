#include "models/managers/mapped_model_manager.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "utilities/error.h"
#include "support/errors.h"

namespace workers {
namespace {

namespace fs = std::filesystem;

ModelConfig fixture_roots() {
  ModelConfig c;
  c.model_roots = {SDXL_FIXTURES_DIR};
  return c;
}

ErrorCode code_of(const std::function<void()>& f) { return testing_support::catch_error(f).code; }

TEST(MappedModelManager, LoadsBothLayoutsOnceAndUnloads) {
  MappedModelManager manager(fixture_roots());
  auto folder = manager.load({"tiny-sdxl", "base"});
  EXPECT_EQ(folder.layout, "diffusers");
  EXPECT_EQ(folder.kind, "sdxl-base");
  EXPECT_GT(folder.bytes, 4u << 20);
  auto single = manager.load({"tiny-sdxl-single-file", "base"});
  EXPECT_EQ(single.layout, "single_file");
  EXPECT_EQ(single.bytes, fs::file_size(std::string(SDXL_FIXTURES_DIR) + "/tiny-sdxl-single-file.safetensors"));
  manager.load({"tiny-sdxl", "base"});  // already resident: not loaded twice
  EXPECT_EQ(manager.loaded().size(), 2u);
  EXPECT_TRUE(manager.unload({"tiny-sdxl", "base"}));
  EXPECT_FALSE(manager.unload({"tiny-sdxl", "base"}));
  EXPECT_EQ(manager.loaded().size(), 1u);
}

TEST(MappedModelManager, RefusesWhatItCannotLoadYetAndWrongRoles) {
  MappedModelManager manager(fixture_roots());
  EXPECT_EQ(code_of([&] { manager.load({"tiny-sdxl", "vae"}); }), ErrorCode::kWorkerUnavailable);
  EXPECT_EQ(code_of([&] { manager.load({"tiny-sdxl", "refiner"}); }), ErrorCode::kInvalidRequest);
  EXPECT_EQ(code_of([&] { manager.load({"missing-model", "base"}); }), ErrorCode::kModelNotFound);
  EXPECT_EQ(code_of([&] { manager.load({"../fixtures/tiny-sdxl", "base"}); }), ErrorCode::kInvalidRequest);
}

TEST(MappedModelManager, CorruptCheckpointIsAModelLoadError) {
  const fs::path root = fs::path(testing::TempDir()) / "corrupt_root";
  fs::create_directories(root);
  std::ofstream(root / "broken.safetensors") << "definitely not safetensors";
  ModelConfig config;
  config.model_roots = {root.string()};
  MappedModelManager manager(config);
  EXPECT_EQ(code_of([&] { manager.load({"broken", "base"}); }), ErrorCode::kModelLoadError);
  EXPECT_TRUE(manager.loaded().empty());
  fs::remove_all(root);
}

}  // namespace
}  // namespace workers
