// The tiny SDXL model's UNet and text encoders, ready for LoRA files written into a temporary
// LoRA root and merged: the set-up the LoRA tests share.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "inference/workers/lora_merge.h"
#include "models/io/safetensors_file.h"
#include "models/managers/torch_model_managers.h"
#include "models/nn/sdxl_text_encoders.h"

namespace workers::testing_support {

// Names of the tiny UNet's weights the tests use (diffusers names) and their sd-scripts spellings.
inline const std::string kToQ = "down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q.weight";  // [32, 32]
inline const std::string kToQKohya = "lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q";
inline const std::string kConv = "down_blocks.1.resnets.0.conv1.weight";  // [32, 16, 3, 3]
inline const std::string kConvKohya = "lora_unet_input_blocks_4_0_in_layers_2";

class TinyLoraModel : public ::testing::Test {
 protected:
  // `folder`: the temporary LoRA root's name; `more_roots`: further LoRA roots searched after it.
  explicit TinyLoraModel(std::string folder, std::vector<std::string> more_roots = {})
      : folder_(std::move(folder)), more_roots_(std::move(more_roots)) {}

  void SetUp() override {
    root_ = std::filesystem::path(testing::TempDir()) / (folder_ + "_" + std::to_string(::getpid()));
    std::filesystem::create_directories(root_);
    ModelConfig config;
    config.model_roots = {SDXL_FIXTURES_DIR};
    config.lora_roots = {root_.string()};
    config.lora_roots.insert(config.lora_roots.end(), more_roots_.begin(), more_roots_.end());
    models_ = make_torch_model_managers(config, "cpu", "float32", SDXL_DATA_DIR, std::make_shared<ModelCache>(nullptr));
    const auto handle = models_.loader->open("tiny-sdxl", "model");
    unet_ = models_.unet->unet(handle);
    encoders_ = models_.text_encoders->text_encoders(handle);
    modules_ = {{"unet", unet_->ptr().get()},
                {"text_encoder", encoders_->text_encoder.ptr().get()},
                {"text_encoder_2", encoders_->text_encoder_2.ptr().get()}};
  }
  void TearDown() override {
    merged_.restore(modules_);
    std::filesystem::remove_all(root_);
  }

  std::string write(const std::string& name, const NamedTensors& tensors) {
    write_safetensors((root_ / (name + ".safetensors")).string(), tensors);
    return name;
  }

  // Restores, then merges one adapter at strength `w`; returns the plan (for its warnings).
  LoraPlan merge(const std::string& name, double w) {
    auto plan = plan_lora_stack({{models_.loras->adapter(name, "loras[0]"), w, "loras[0]", name}},
                                lora_target_index(modules_));
    merged_.merge(plan, modules_);
    return plan;
  }

  std::string folder_;
  std::vector<std::string> more_roots_;
  std::filesystem::path root_;
  TorchModelManagers models_;
  std::shared_ptr<UNet2DConditionModel> unet_;
  std::shared_ptr<SdxlTextEncoders> encoders_;
  AdaptableModules modules_;
  MergedWeights merged_;
};

}  // namespace workers::testing_support
