// Parity: the original-format single file converts to exactly the tensors of the diffusers folder.
#include "models/io/single_file_checkpoint.h"

#include <filesystem>
#include <fstream>
#include <map>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "models/io/sgm_key_map.h"
#include "utilities/error.h"

namespace workers {
namespace {

const std::string kFixtures = SDXL_FIXTURES_DIR;
const std::string kSingle = kFixtures + "/tiny-sdxl-single-file.safetensors";
const std::string kFolder = kFixtures + "/tiny-sdxl";

const std::map<std::string, std::string> kWeights = {
    {"unet", "unet/diffusion_pytorch_model.safetensors"},
    {"vae", "vae/diffusion_pytorch_model.safetensors"},
    {"text_encoder", "text_encoder/model.safetensors"},
    {"text_encoder_2", "text_encoder_2/model.safetensors"},
};

nlohmann::json folder_config(const std::string& component) {
  std::ifstream in(kFolder + "/" + component + "/config.json");
  return nlohmann::json::parse(in);
}

TEST(SingleFile, EveryComponentEqualsTheDiffusersFolderBitwise) {
  auto checkpoint = load_single_file(kSingle, kFolder);
  EXPECT_EQ(checkpoint.kind, CheckpointKind::kSdxlBase);
  EXPECT_TRUE(checkpoint.unmapped_keys.empty()) << checkpoint.unmapped_keys.front();
  for (const auto& [component, file] : kWeights) {
    const auto* converted = checkpoint.find(component);
    ASSERT_NE(converted, nullptr) << component;
    auto reference = SafetensorsFile::open(kFolder + "/" + file);
    std::map<std::string, at::Tensor> mine(converted->tensors.begin(), converted->tensors.end());
    EXPECT_EQ(mine.size(), reference->names().size()) << component;
    for (const auto& name : reference->names()) {
      auto it = mine.find(name);
      ASSERT_NE(it, mine.end()) << component << ": missing " << name;
      auto expected = reference->tensor(name);
      EXPECT_EQ(it->second.sizes(), expected.sizes()) << component << ": " << name;
      EXPECT_EQ(it->second.scalar_type(), expected.scalar_type()) << component << ": " << name;
      EXPECT_TRUE(torch::equal(it->second.contiguous(), expected)) << component << ": " << name;
    }
  }
}

TEST(SingleFile, InferredConfigsMatchTheFolderWhereShapesDecide) {
  auto checkpoint = load_single_file(kSingle);
  const std::map<std::string, std::vector<std::string>> decided = {
      {"unet",
       {"in_channels", "out_channels", "layers_per_block", "block_out_channels", "down_block_types", "up_block_types",
        "transformer_layers_per_block", "cross_attention_dim", "use_linear_projection", "mid_block_type",
        "addition_embed_type", "projection_class_embeddings_input_dim", "addition_time_embed_dim",
        "time_embedding_dim"}},
      {"vae", {"block_out_channels", "down_block_types", "up_block_types", "layers_per_block", "in_channels",
               "out_channels", "latent_channels", "use_quant_conv", "use_post_quant_conv", "mid_block_add_attention"}},
      {"text_encoder", {"vocab_size", "hidden_size", "max_position_embeddings", "num_hidden_layers",
                        "intermediate_size", "hidden_act"}},
      {"text_encoder_2", {"vocab_size", "hidden_size", "max_position_embeddings", "num_hidden_layers",
                          "intermediate_size", "hidden_act", "projection_dim"}},
  };
  for (const auto& [component, keys] : decided) {
    const auto* c = checkpoint.find(component);
    ASSERT_NE(c, nullptr) << component;
    const auto expected = folder_config(component);
    for (const auto& key : keys) {
      EXPECT_EQ(c->config[key], expected[key]) << component << "." << key;
    }
  }
  // Tiny widths are not multiples of 64, so the head counts are flagged as assumed.
  const auto& assumed = checkpoint.find("unet")->assumed;
  EXPECT_NE(std::find(assumed.begin(), assumed.end(), "attention_head_dim"), assumed.end());
}

TEST(SingleFile, ConfigFromWinsButMustAgreeWithTheShapes) {
  auto checkpoint = load_single_file(kSingle, kFolder);
  EXPECT_EQ(checkpoint.find("unet")->config["attention_head_dim"], nlohmann::json({2, 4, 4}));
  EXPECT_TRUE(checkpoint.find("unet")->assumed.empty());

  const auto bad = testing::TempDir() + "/config_from_bad";
  std::filesystem::create_directories(bad + "/unet");
  auto config = folder_config("unet");
  config["block_out_channels"] = {32, 64, 64};
  std::ofstream(bad + "/unet/config.json") << config.dump();
  try {
    load_single_file(kSingle, bad);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kModelLoadError);
    EXPECT_NE(std::string(e.what()).find("block_out_channels"), std::string::npos) << e.what();
  }
  std::filesystem::remove_all(bad);
}

TEST(SingleFile, ConvertedTensorsAreViewsOfTheMapping) {
  auto checkpoint = load_single_file(kSingle);
  const auto* te2 = checkpoint.find("text_encoder_2");
  const at::Tensor* q = nullptr;
  for (const auto& [name, t] : te2->tensors) {
    if (name == "text_model.encoder.layers.0.self_attn.q_proj.weight") q = &t;
  }
  ASSERT_NE(q, nullptr);
  const auto fused = checkpoint.file->tensor("conditioner.embedders.1.model.transformer.resblocks.0.attn.in_proj_weight");
  EXPECT_EQ(q->data_ptr(), fused.data_ptr());  // the q slice starts the fused matrix: no copy
}

std::string write_keys(const std::string& name, const std::vector<std::string>& keys) {
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& k : keys) tensors.emplace_back(k, torch::zeros({1}));
  const auto path = testing::TempDir() + "/" + name + ".safetensors";
  write_safetensors(path, tensors);
  return path;
}

TEST(SingleFile, SdOneAndTwoAreRejectedByName) {
  for (const auto& [prefix, expected] : std::vector<std::pair<std::string, std::string>>{
           {"cond_stage_model.transformer.text_model.final_layer_norm.weight", "Stable Diffusion 1.x"},
           {"cond_stage_model.model.ln_final.weight", "Stable Diffusion 2.x"}}) {
    const auto path = write_keys("sd_old", {"model.diffusion_model.input_blocks.0.0.weight", prefix});
    try {
      load_single_file(path);
      FAIL();
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
    }
    std::remove(path.c_str());
  }
  const auto lora = write_keys("not_a_checkpoint", {"lora_unet_down_blocks_0.lora_up.weight"});
  EXPECT_THROW(load_single_file(lora), Error);
  std::remove(lora.c_str());
}

TEST(SgmKeyMap, SdxlBaseLayoutMapsTheTrickyBlocks) {
  UnetLayout sdxl{3, 2, {false, true, true}, true};
  const UnetKeyMap keys(sdxl);
  auto map = [&](const std::string& k) { return keys.map(k)->name; };
  EXPECT_EQ(map("input_blocks.3.0.op.weight"), "down_blocks.0.downsamplers.0.conv.weight");
  EXPECT_EQ(map("input_blocks.4.0.skip_connection.bias"), "down_blocks.1.resnets.0.conv_shortcut.bias");
  EXPECT_EQ(map("input_blocks.8.1.transformer_blocks.9.attn2.to_k.weight"),
            "down_blocks.2.attentions.1.transformer_blocks.9.attn2.to_k.weight");
  EXPECT_EQ(map("output_blocks.2.2.conv.weight"), "up_blocks.0.upsamplers.0.conv.weight");
  EXPECT_EQ(map("output_blocks.5.2.conv.bias"), "up_blocks.1.upsamplers.0.conv.bias");
  EXPECT_EQ(map("output_blocks.8.0.out_layers.3.weight"), "up_blocks.2.resnets.2.conv2.weight");
  EXPECT_EQ(map("middle_block.2.emb_layers.1.weight"), "mid_block.resnets.1.time_emb_proj.weight");
  EXPECT_EQ(map("label_emb.0.2.bias"), "add_embedding.linear_2.bias");
}

TEST(SgmKeyMap, RefinerLayoutHasFourLevels) {
  UnetLayout refiner{4, 2, {false, true, true, false}, true};
  const UnetKeyMap keys(refiner);
  EXPECT_EQ(keys.map("input_blocks.9.0.op.weight")->name, "down_blocks.2.downsamplers.0.conv.weight");
  EXPECT_EQ(keys.map("output_blocks.2.1.conv.weight")->name, "up_blocks.0.upsamplers.0.conv.weight");
  EXPECT_EQ(keys.map("output_blocks.5.2.conv.weight")->name, "up_blocks.1.upsamplers.0.conv.weight");
}

TEST(SgmKeyMap, VaeAndOpenClipTables) {
  EXPECT_EQ(map_vae_key("decoder.up.3.block.0.nin_shortcut.weight", 4)->name,
            "decoder.up_blocks.0.resnets.0.conv_shortcut.weight");
  auto q = map_vae_key("encoder.mid.attn_1.q.weight", 4);
  EXPECT_EQ(q->name, "encoder.mid_block.attentions.0.to_q.weight");
  EXPECT_EQ(q->transform, KeyTransform::kConv1x1ToLinear);
  EXPECT_EQ(map_vae_key("encoder.mid.attn_1.q.bias", 4)->transform, KeyTransform::kNone);
  EXPECT_EQ(map_open_clip_key("transformer.resblocks.11.mlp.c_proj.bias")->name,
            "text_model.encoder.layers.11.mlp.fc2.bias");
  EXPECT_EQ(map_open_clip_key("text_projection")->transform, KeyTransform::kTranspose);
  EXPECT_FALSE(map_open_clip_key("logit_scale").has_value());
  EXPECT_TRUE(is_known_unused_key("conditioner.embedders.1.model.logit_scale"));
}

}  // namespace
}  // namespace workers
