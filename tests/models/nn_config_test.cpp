// Config parsing for the networks: the real SDXL configs, the tiny fixtures, and refusals that
// name the file and key instead of building a network that ignores part of its config.
#include <fstream>

#include <gtest/gtest.h>

#include "models/nn/nn_configs.h"
#include "support/errors.h"

namespace workers {
namespace {

using testing_support::catch_error;

nlohmann::json read_json(const std::string& relative) {
  std::ifstream in(std::string(SDXL_FIXTURES_DIR) + "/" + relative);
  return nlohmann::json::parse(in);
}

TEST(UNetConfig, RealSdxlBaseConfigGivesHeadsDepthsAndSixTimeIds) {
  auto c = UNetConfig::from_json(read_json("configs/sdxl-base/unet/config.json"), "sdxl-base/unet");
  EXPECT_EQ(c.block_out_channels, (std::vector<std::int64_t>{320, 640, 1280}));
  EXPECT_EQ(c.num_attention_heads, (std::vector<std::int64_t>{5, 10, 20}));  // head dim 64
  EXPECT_EQ(c.transformer_layers_per_block, (std::vector<std::int64_t>{1, 2, 10}));
  EXPECT_EQ(c.reverse_transformer_layers_per_block, (std::vector<std::int64_t>{10, 2, 1}));
  EXPECT_EQ(c.cross_attention_dim, (std::vector<std::int64_t>{2048, 2048, 2048}));
  EXPECT_EQ(c.time_embedding_dim, 1280);
  EXPECT_TRUE(c.text_time_embedding);
  EXPECT_EQ(c.num_time_ids(1280), 6);
}

TEST(UNetConfig, RealSdxlRefinerConfigGivesFiveTimeIds) {
  auto c = UNetConfig::from_json(read_json("configs/sdxl-refiner/unet/config.json"), "sdxl-refiner/unet");
  EXPECT_EQ(c.block_out_channels.size(), 4u);
  EXPECT_EQ(c.num_time_ids(1280), 5);
}

TEST(UNetConfig, TinyControlNetConfigKeepsConditioningEmbedding) {
  auto c = UNetConfig::controlnet_from_json(read_json("tiny-controlnet/config.json"), "tiny-controlnet");
  EXPECT_EQ(c.conditioning_embedding_out_channels, (std::vector<std::int64_t>{8, 16, 16, 32}));
  EXPECT_EQ(c.conditioning_channels, 3);
  EXPECT_FALSE(c.bgr_conditioning);
}

TEST(UNetConfig, UnsupportedFeatureIsRefusedNamingTheKey) {
  auto config = read_json("tiny-sdxl/unet/config.json");
  config["class_embed_type"] = "timestep";
  auto caught = catch_error([&] { UNetConfig::from_json(config, "m/unet/config.json"); });
  EXPECT_EQ(caught.code, ErrorCode::kModelLoadError);
  EXPECT_EQ(caught.field, "m/unet/config.json.class_embed_type");
  EXPECT_NE(caught.message.find("not supported"), std::string::npos);
}

TEST(UNetConfig, UnknownBlockTypeListsTheSupportedOnes) {
  auto config = read_json("tiny-sdxl/unet/config.json");
  config["down_block_types"][0] = "SimpleCrossAttnDownBlock2D";
  auto caught = catch_error([&] { UNetConfig::from_json(config, "unet"); });
  EXPECT_NE(caught.message.find("SimpleCrossAttnDownBlock2D"), std::string::npos);
  EXPECT_NE(caught.message.find("CrossAttnDownBlock2D"), std::string::npos);
}

TEST(UNetConfig, PerBlockListOfTheWrongLengthIsRefused) {
  auto config = read_json("tiny-sdxl/unet/config.json");
  config["transformer_layers_per_block"] = {1, 2};
  auto caught = catch_error([&] { UNetConfig::from_json(config, "unet"); });
  EXPECT_EQ(caught.field, "unet.transformer_layers_per_block");
  EXPECT_NE(caught.message.find("expected 3"), std::string::npos);
}

TEST(UNetConfig, HeadsThatDoNotDivideChannelsAreRefused) {
  auto config = read_json("tiny-sdxl/unet/config.json");
  config["attention_head_dim"] = {2, 5, 4};
  auto caught = catch_error([&] { UNetConfig::from_json(config, "unet"); });
  EXPECT_EQ(caught.field, "unet.attention_head_dim");
}

TEST(UNetConfig, IntegerPerBlockValueRepeatsForEveryBlock) {
  auto config = read_json("tiny-sdxl/unet/config.json");
  config["transformer_layers_per_block"] = 3;
  config["layers_per_block"] = 1;
  auto c = UNetConfig::from_json(config, "unet");
  EXPECT_EQ(c.transformer_layers_per_block, (std::vector<std::int64_t>{3, 3, 3}));
  EXPECT_EQ(c.layers_per_block, (std::vector<std::int64_t>{1, 1, 1}));
}

TEST(VaeConfig, RealSdxlVaeConfigParses) {
  auto c = VaeConfig::from_json(read_json("configs/sdxl-base/vae/config.json"), "vae");
  EXPECT_EQ(c.block_out_channels, (std::vector<std::int64_t>{128, 256, 512, 512}));
  EXPECT_EQ(c.downscale_factor(), 8);
  EXPECT_DOUBLE_EQ(c.scaling_factor, 0.13025);
  EXPECT_EQ(c.sample_size, 1024);
}

TEST(VaeConfig, LatentStatisticsAreRefusedRatherThanIgnored) {
  auto config = read_json("tiny-sdxl/vae/config.json");
  config["latents_mean"] = {0.1, 0.2, 0.3, 0.4};
  auto caught = catch_error([&] { VaeConfig::from_json(config, "vae"); });
  EXPECT_EQ(caught.field, "vae.latents_mean");
}

TEST(ClipTextConfig, ArchitectureSelectsTheProjectionHead) {
  EXPECT_FALSE(ClipTextConfig::from_json(read_json("configs/sdxl-base/text_encoder/config.json"), "te1").with_projection);
  auto te2 = ClipTextConfig::from_json(read_json("configs/sdxl-base/text_encoder_2/config.json"), "te2");
  EXPECT_TRUE(te2.with_projection);
  EXPECT_EQ(te2.hidden_size, 1280);
  EXPECT_EQ(te2.hidden_act, "gelu");
}

TEST(ClipTextConfig, UnknownActivationIsRefused) {
  auto config = read_json("tiny-sdxl/text_encoder/config.json");
  config["hidden_act"] = "relu";
  auto caught = catch_error([&] { ClipTextConfig::from_json(config, "te"); });
  EXPECT_EQ(caught.field, "te.hidden_act");
}

}  // namespace
}  // namespace workers
