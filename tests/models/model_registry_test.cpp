#include "models/io/model_registry.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "utilities/error.h"
#include "support/errors.h"

namespace workers {
namespace {

namespace fs = std::filesystem;

struct Roots {
  fs::path base = fs::path(testing::TempDir()) / "registry";
  fs::path root = base / "models";
  fs::path outside = base / "elsewhere";
  Roots() {
    fs::remove_all(base);
    fs::create_directories(root / "sdxl-base");
    std::ofstream(root / "sdxl-base" / "model_index.json") << "{}";
    std::ofstream(root / "juggernaut.safetensors") << "x";
    fs::create_directories(outside / "secret");
    std::ofstream(outside / "secret" / "model_index.json") << "{}";
    std::ofstream(outside / "other.safetensors") << "x";
    fs::create_symlink(outside / "secret", root / "link-out");
  }
  ~Roots() { fs::remove_all(base); }
};

ErrorCode code_of(const std::function<void()>& f, std::string* message = nullptr) {
  auto caught = testing_support::catch_error(f);
  if (message) *message = caught.message;
  return caught.code;
}

TEST(ModelRegistry, ResolvesNamesToEitherLayout) {
  Roots r;
  ModelRegistry registry({r.root.string()});
  EXPECT_EQ(registry.resolve("sdxl-base").layout, ModelLayout::kDiffusersFolder);
  EXPECT_EQ(registry.resolve("juggernaut").layout, ModelLayout::kSingleFile);  // ".safetensors" optional
  EXPECT_EQ(registry.resolve("juggernaut.safetensors").layout, ModelLayout::kSingleFile);
  EXPECT_EQ(registry.resolve((r.root / "sdxl-base").string()).path, fs::canonical(r.root / "sdxl-base").string());
  EXPECT_EQ(registry.list().size(), 2u);  // the escaping symlink is not listed
}

TEST(ModelRegistry, RefusesEverythingOutsideTheRoots) {
  Roots r;
  ModelRegistry registry({r.root.string()});
  std::string message;
  EXPECT_EQ(code_of([&] { registry.resolve("../elsewhere/other"); }, &message), ErrorCode::kInvalidRequest);
  EXPECT_EQ(code_of([&] { registry.resolve((r.outside / "other.safetensors").string()); }, &message),
            ErrorCode::kInvalidRequest);
  EXPECT_NE(message.find("outside the configured model roots"), std::string::npos) << message;
  EXPECT_EQ(code_of([&] { registry.resolve("link-out"); }, &message), ErrorCode::kInvalidRequest);
  EXPECT_EQ(code_of([&] { registry.resolve("/nonexistent/anywhere.safetensors"); }), ErrorCode::kInvalidRequest);
}

TEST(ModelRegistry, MissingModelsListWhatWasTried) {
  Roots r;
  std::string message;
  EXPECT_EQ(code_of([&] { ModelRegistry({r.root.string()}).resolve("nope"); }, &message), ErrorCode::kModelNotFound);
  EXPECT_NE(message.find("nope.safetensors"), std::string::npos) << message;
  EXPECT_EQ(code_of([&] { ModelRegistry({}).resolve("sdxl-base"); }, &message), ErrorCode::kInvalidRequest);
  EXPECT_NE(message.find("no model roots"), std::string::npos);
}

TEST(ModelRegistry, DetectLayoutRefusesPickles) {
  Roots r;
  std::ofstream(r.root / "old.ckpt") << "x";
  std::string message;
  EXPECT_EQ(code_of([&] { detect_layout((r.root / "old.ckpt").string()); }, &message), ErrorCode::kModelNotFound);
  EXPECT_NE(message.find("pickled"), std::string::npos);
}

}  // namespace
}  // namespace workers
