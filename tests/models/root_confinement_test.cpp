// Every file read for a request resolves inside a root of its kind: a model, ControlNet or VAE
// folder inside a root may hold links, but none that leads out of the roots (unless the operator
// trusts the target), and errors from a model's files name the request field.
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "models/managers/torch_model_managers.h"
#include "support/errors.h"
#include "utilities/error.h"

namespace workers {
namespace {

namespace fs = std::filesystem;
using testing_support::catch_error;

const fs::path kTiny = fs::path(SDXL_FIXTURES_DIR) / "tiny-sdxl";

// <base>/models (the root) and <base>/outside, with a real copy of tiny-sdxl in each.
struct Sandbox {
  fs::path base = fs::path(testing::TempDir()) / ("confine_" + std::to_string(::getpid()));
  fs::path root = base / "models";
  fs::path outside = base / "outside";
  Sandbox() {
    fs::remove_all(base);
    fs::create_directories(root);
    fs::create_directories(outside);
    fs::copy(kTiny, outside / "tiny-sdxl", fs::copy_options::recursive);
    std::ofstream(outside / "passwd") << "root:x:0:0:root:/root:/bin/bash\n";
  }
  ~Sandbox() { fs::remove_all(base); }
  // A copy of tiny-sdxl inside the root, with `relative` replaced by a link to `target`.
  fs::path model_with_link(const std::string& name, const fs::path& relative, const fs::path& target) const {
    const fs::path folder = root / name;
    fs::copy(kTiny, folder, fs::copy_options::recursive);
    fs::remove_all(folder / relative);
    fs::create_symlink(target, folder / relative);
    return folder;
  }
  ModelConfig config() const {
    ModelConfig c;
    c.model_roots = {root.string()};
    c.lora_roots = {root.string()};
    c.controlnet_roots = {root.string()};
    return c;
  }
};

void expect_escape_refused(const TorchModelManagers& manager, const std::string& name, const std::string& link) {
  const auto e = catch_error([&] { manager.loader->open(name, "model.base"); });
  EXPECT_EQ(e.code, ErrorCode::kInvalidRequest) << name;
  EXPECT_EQ(e.field, "model.base") << name;
  EXPECT_NE(e.message.find(link), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("outside the configured roots"), std::string::npos) << e.message;
}

TEST(RootConfinement, LinksOutOfAModelFolderAreRefused) {
  Sandbox s;
  s.model_with_link("index-link", "model_index.json", s.outside / "passwd");
  s.model_with_link("vocab-link", "tokenizer/vocab.json", s.outside / "passwd");
  s.model_with_link("unet-link", "unet", s.outside / "tiny-sdxl" / "unet");
  auto manager = make_torch_model_managers(s.config(), "cpu", "float32", SDXL_DATA_DIR, std::make_shared<ModelCache>(nullptr));
  expect_escape_refused(manager, "index-link", "model_index.json");
  expect_escape_refused(manager, "vocab-link", "vocab.json");
  expect_escape_refused(manager, "unet-link", "unet");
  // The same references as a load request name the request's own field.
  EXPECT_EQ(catch_error([&] { manager.loader->open("unet-link", "model"); }).field, "model");
}

TEST(RootConfinement, TrustedLinkTargetsAreFollowed) {
  Sandbox s;
  s.model_with_link("unet-link", "unet", s.outside / "tiny-sdxl" / "unet");
  auto config = s.config();
  config.trusted_link_targets = {(s.outside / "tiny-sdxl").string()};
  auto manager = make_torch_model_managers(config, "cpu", "float32", SDXL_DATA_DIR, std::make_shared<ModelCache>(nullptr));
  const auto model = manager.loader->open("unet-link", "model.base");
  EXPECT_TRUE(manager.unet->unet(model));
}

// The Hugging Face cache: snapshots/<rev>/ holds links into ../../blobs. Inside one root, they
// keep working.
TEST(RootConfinement, LinksThatStayInsideARootKeepWorking) {
  Sandbox s;
  const fs::path repo = s.root / "hub" / "models--tiny--sdxl";
  const fs::path snapshot = repo / "snapshots" / "0123abcd";
  fs::create_directories(repo / "blobs");
  int blob = 0;
  for (const auto& entry : fs::recursive_directory_iterator(kTiny)) {
    const fs::path relative = fs::relative(entry.path(), kTiny);
    if (entry.is_directory()) {
      fs::create_directories(snapshot / relative);
      continue;
    }
    const fs::path blob_path = repo / "blobs" / ("blob" + std::to_string(blob++));
    fs::copy_file(entry.path(), blob_path);
    fs::create_directories((snapshot / relative).parent_path());
    fs::create_symlink(fs::relative(blob_path, (snapshot / relative).parent_path()), snapshot / relative);
  }
  auto manager = make_torch_model_managers(s.config(), "cpu", "float32", SDXL_DATA_DIR, std::make_shared<ModelCache>(nullptr));
  const auto model = manager.loader->open("hub/models--tiny--sdxl/snapshots/0123abcd", "model.base");
  EXPECT_EQ(model.kind, ModelKind::kSdxlBase);
  EXPECT_TRUE(manager.unet->unet(model));
  EXPECT_TRUE(manager.text_encoders->text_encoders(model));
}

TEST(RootConfinement, LoraControlNetAndVaeLinksOutAreRefused) {
  Sandbox s;
  // A LoRA file that is a link out of the LoRA root.
  fs::create_symlink(s.outside / "tiny-sdxl" / "unet" / "diffusion_pytorch_model.safetensors",
                     s.root / "style.safetensors");
  // A ControlNet folder whose config.json leads out.
  fs::create_directories(s.root / "cn");
  fs::copy(fs::path(SDXL_FIXTURES_DIR) / "tiny-controlnet", s.root / "cn" / "net", fs::copy_options::recursive);
  fs::remove(s.root / "cn" / "net" / "config.json");
  fs::create_symlink(fs::path(SDXL_FIXTURES_DIR) / "tiny-controlnet" / "config.json", s.root / "cn" / "net" / "config.json");
  // A bare VAE folder whose weights lead out.
  fs::copy(kTiny / "vae", s.root / "my-vae", fs::copy_options::recursive);
  fs::remove(s.root / "my-vae" / "diffusion_pytorch_model.safetensors");
  fs::create_symlink(s.outside / "tiny-sdxl" / "vae" / "diffusion_pytorch_model.safetensors",
                     s.root / "my-vae" / "diffusion_pytorch_model.safetensors");
  auto manager = make_torch_model_managers(s.config(), "cpu", "float32", SDXL_DATA_DIR, std::make_shared<ModelCache>(nullptr));
  EXPECT_EQ(catch_error([&] { manager.loras->resolve("style", "loras[0]"); }).field, "loras[0]");
  const auto cn = catch_error([&] { manager.controlnets->open("cn/net", "controlnets[0].model"); });
  EXPECT_EQ(cn.code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(cn.field, "controlnets[0].model");
  const auto vae = catch_error([&] { manager.loader->open_vae("my-vae", "model.vae"); });
  EXPECT_EQ(vae.code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(vae.field, "model.vae");
  EXPECT_NE(vae.message.find("diffusion_pytorch_model.safetensors"), std::string::npos) << vae.message;
}

// `generate --vae MODEL/vae` makes MODEL's parent and MODEL roots and names the VAE by its path:
// it must be MODEL/vae, not a vae.safetensors beside MODEL.
TEST(RootConfinement, VaeFolderByPathIsNotABasenameMatch) {
  Sandbox s;
  fs::copy(kTiny, s.root / "tiny", fs::copy_options::recursive);
  std::ofstream(s.root / "vae.safetensors") << "a decoy that is no checkpoint";
  auto config = s.config();
  config.model_roots.push_back((s.root / "tiny").string());
  auto manager = make_torch_model_managers(config, "cpu", "float32", SDXL_DATA_DIR, std::make_shared<ModelCache>(nullptr));
  const auto vae = manager.loader->open_vae((s.root / "tiny" / "vae").string(), "model.vae");
  EXPECT_EQ(vae.kind, ModelKind::kVae);
  EXPECT_EQ(vae.path, fs::canonical(s.root / "tiny" / "vae").string());
  EXPECT_TRUE(manager.vae->vae(vae));
}

TEST(RootConfinement, ErrorsFromAModelsFilesNameTheRequestField) {
  Sandbox s;
  fs::copy(kTiny, s.root / "bad-unet", fs::copy_options::recursive);
  std::ofstream(s.root / "bad-unet" / "unet" / "diffusion_pytorch_model.safetensors", std::ios::trunc) << "garbage";
  std::ofstream(s.root / "broken.safetensors") << "definitely not safetensors";
  auto manager = make_torch_model_managers(s.config(), "cpu", "float32", SDXL_DATA_DIR, std::make_shared<ModelCache>(nullptr));
  const auto unet = catch_error([&] { manager.unet->unet(manager.loader->open("bad-unet", "model.base")); });
  EXPECT_EQ(unet.code, ErrorCode::kModelLoadError);
  EXPECT_EQ(unet.field, "model.base");
  EXPECT_NE(unet.message.find("diffusion_pytorch_model.safetensors"), std::string::npos) << unet.message;
  const auto single = catch_error([&] { manager.loader->open("broken", "model.refiner"); });
  EXPECT_EQ(single.code, ErrorCode::kModelLoadError);
  EXPECT_EQ(single.field, "model.refiner");
}

}  // namespace
}  // namespace workers
