// Full-size SDXL base and refiner checkpoints, generated as sparse files (the header is real,
// the data is zero pages): conversion and config inference checked against the published
// configs and parameter counts without a multi-GB download.
#include <algorithm>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "models/io/lora_targets.h"
#include "models/io/sgm_key_map.h"
#include "models/io/single_file_checkpoint.h"
#include "support/sdxl_shapes.h"

namespace workers {
namespace {

namespace fs = std::filesystem;
const std::string kConfigs = std::string(SDXL_FIXTURES_DIR) + "/configs";

nlohmann::json published(const std::string& model, const std::string& component) {
  std::ifstream in(kConfigs + "/" + model + "/" + component + "/config.json");
  return nlohmann::json::parse(in);
}

std::int64_t parameters(const ConvertedComponent& c) {
  std::int64_t n = 0;
  for (const auto& [name, t] : c.tensors) n += t.numel();
  return n;
}

struct SparseCheckpoint {
  std::string path;
  SparseCheckpoint(const std::string& name, const testing_support::ShapeList& shapes)
      : path(testing::TempDir() + "/" + name + ".safetensors") {
    testing_support::write_checkpoint(path, shapes, false);
  }
  ~SparseCheckpoint() { fs::remove(path); }
};

void expect_keys_equal(const nlohmann::json& mine, const nlohmann::json& theirs, const std::vector<std::string>& keys,
                       const std::string& what) {
  for (const auto& key : keys) EXPECT_EQ(mine[key], theirs[key]) << what << "." << key;
}

TEST(FullSizeSdxl, BaseConvertsCompletelyAndInfersThePublishedConfigs) {
  SparseCheckpoint file("full_sdxl_base", testing_support::sdxl_base_checkpoint_shapes());
  auto checkpoint = load_single_file(file.path);
  EXPECT_EQ(checkpoint.kind, CheckpointKind::kSdxlBase);
  EXPECT_TRUE(checkpoint.unmapped_keys.empty()) << checkpoint.unmapped_keys.front();
  // param_counts.json of the reference configs
  EXPECT_EQ(parameters(*checkpoint.find("unet")), 2567463684);
  EXPECT_EQ(parameters(*checkpoint.find("vae")), 83653863);

  const auto& unet = checkpoint.find("unet")->config;
  expect_keys_equal(unet, published("sdxl-base", "unet"),
                    {"in_channels", "out_channels", "block_out_channels", "layers_per_block", "down_block_types",
                     "up_block_types", "transformer_layers_per_block", "cross_attention_dim", "use_linear_projection",
                     "mid_block_type", "addition_embed_type", "addition_time_embed_dim",
                     "projection_class_embeddings_input_dim", "attention_head_dim", "norm_num_groups",
                     "sample_size", "flip_sin_to_cos", "freq_shift"},
                    "unet");
  const auto& assumed = checkpoint.find("unet")->assumed;
  EXPECT_EQ(std::find(assumed.begin(), assumed.end(), "attention_head_dim"), assumed.end());  // widths / 64
  expect_keys_equal(checkpoint.find("vae")->config, published("sdxl-base", "vae"),
                    {"block_out_channels", "layers_per_block", "latent_channels", "in_channels", "out_channels",
                     "scaling_factor", "norm_num_groups", "force_upcast", "sample_size"},
                    "vae");
  for (const char* te : {"text_encoder", "text_encoder_2"}) {
    expect_keys_equal(checkpoint.find(te)->config, published("sdxl-base", te),
                      {"hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                       "max_position_embeddings", "vocab_size", "hidden_act", "projection_dim"},
                      te);
  }
  // The published folder agrees with the shapes, so it is accepted as config_from.
  EXPECT_NO_THROW(load_single_file(file.path, kConfigs + "/sdxl-base"));
}

TEST(FullSizeSdxl, RefinerIsDetectedWithFourLevelsAndItsMidBlockDepth) {
  SparseCheckpoint file("full_sdxl_refiner", testing_support::sdxl_refiner_checkpoint_shapes());
  auto checkpoint = load_single_file(file.path);
  EXPECT_EQ(checkpoint.kind, CheckpointKind::kSdxlRefiner);
  EXPECT_TRUE(checkpoint.unmapped_keys.empty()) << checkpoint.unmapped_keys.front();
  EXPECT_EQ(parameters(*checkpoint.find("unet")), 2259526660);
  EXPECT_EQ(checkpoint.find("text_encoder"), nullptr);
  const auto& unet = checkpoint.find("unet")->config;
  expect_keys_equal(unet, published("sdxl-refiner", "unet"),
                    {"block_out_channels", "layers_per_block", "down_block_types", "up_block_types",
                     "cross_attention_dim", "addition_time_embed_dim", "projection_class_embeddings_input_dim",
                     "attention_head_dim"},
                    "unet");
  EXPECT_EQ(unet["transformer_layers_per_block"].back(), 4);  // mid block depth
  EXPECT_NO_THROW(load_single_file(file.path, kConfigs + "/sdxl-refiner"));
}

TEST(FullSizeSdxl, NineChannelUnetIsTheInpaintingModel) {
  SparseCheckpoint file("full_sdxl_inpaint", testing_support::sdxl_base_checkpoint_shapes(9));
  auto checkpoint = load_single_file(file.path);
  EXPECT_EQ(checkpoint.kind, CheckpointKind::kSdxlInpaint);
  EXPECT_EQ(checkpoint.find("unet")->config["in_channels"], 9);
  EXPECT_EQ(checkpoint.find("unet")->config["out_channels"], 4);
}

}  // namespace
}  // namespace workers

namespace workers {
namespace {

// sd-scripts names a full-size SDXL LoRA after the original (SGM) module paths. Every matrix and
// conv of the base and refiner UNets, spelled that way, must find the diffusers weight the
// single-file conversion gives the same tensor: the LoRA index is built the other way round
// (UnetKeyMap::to_sgm), so this checks the two directions agree at full size.
void expect_every_kohya_name_found(const testing_support::ShapeList& shapes) {
  const std::string prefix = "model.diffusion_model.";
  std::vector<std::pair<std::string, std::string>> pairs;  // SGM module path, diffusers weight
  std::vector<std::string> sgm_keys, diffusers;
  for (const auto& [key, shape] : shapes) {
    if (key.rfind(prefix, 0) == 0) sgm_keys.push_back(key.substr(prefix.size()));
  }
  const UnetKeyMap map(infer_unet_layout(sgm_keys));
  for (const auto& [key, shape] : shapes) {
    if (key.rfind(prefix, 0) != 0) continue;
    const auto mapped = map.map(key.substr(prefix.size()));
    ASSERT_TRUE(mapped) << key;
    diffusers.push_back(mapped->name);
    const bool weight = key.size() > 7 && key.compare(key.size() - 7, 7, ".weight") == 0;
    if (weight && shape.size() >= 2) pairs.emplace_back(key.substr(prefix.size(), key.size() - prefix.size() - 7), mapped->name);
  }
  LoraTargetIndex index;
  index.add_unet(diffusers);
  ASSERT_GT(pairs.size(), 500u);  // base 794, refiner 554 (linear, 1×1 and 3×3 conv weights)
  for (auto [sgm, weight] : pairs) {
    std::replace(sgm.begin(), sgm.end(), '.', '_');
    const auto* target = index.find("lora_unet_" + sgm);
    ASSERT_TRUE(target) << sgm;
    EXPECT_EQ(target->parameter, weight) << sgm;
  }
}

TEST(FullSizeSdxl, EveryKohyaUnetNameFindsItsWeightInBaseAndRefiner) {
  expect_every_kohya_name_found(testing_support::sdxl_base_checkpoint_shapes());
  expect_every_kohya_name_found(testing_support::sdxl_refiner_checkpoint_shapes());
}

}  // namespace
}  // namespace workers
