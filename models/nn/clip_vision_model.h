// CLIPVisionModel as transformers builds it: patch embedding (conv, no bias) + class token +
// learned positions, pre_layrnorm, a bidirectional pre-LN encoder (CLIP text's layers), and the
// class-token state through post_layernorm as the pooled output (the safety checker's tower).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "models/nn/clip_text_model.h"
#include "models/nn/nn_configs.h"

namespace workers {

// CLIPVisionConfig; missing keys take transformers' defaults (ViT-B/32, quick_gelu), which is
// what the safety checker's sparse `vision_config` relies on.
struct ClipVisionConfig : ClipEncoderConfig {
  ClipVisionConfig() { causal = false; }
  std::int64_t num_channels = 3;
  std::int64_t image_size = 224;
  std::int64_t patch_size = 32;

  std::int64_t num_positions() const;  // patches + the class token

  // Throws Error(MODEL_LOAD_ERROR) naming `where` and the key.
  static ClipVisionConfig from_json(const nlohmann::json& config, const std::string& where);
};

struct ClipVisionOutput {
  at::Tensor last_hidden_state;           // [B, positions, hidden], encoder output (no final norm)
  at::Tensor pooler_output;               // [B, hidden], post_layernorm(class token)
  std::vector<at::Tensor> hidden_states;  // after pre_layrnorm, then each layer's output
};

struct ClipVisionEmbeddingsImpl : torch::nn::Module {
  explicit ClipVisionEmbeddingsImpl(const ClipVisionConfig& config);
  at::Tensor forward(const at::Tensor& pixel_values);
  at::Tensor class_embedding;  // [hidden], a bare parameter as in transformers
  torch::nn::Conv2d patch_embedding{nullptr};
  torch::nn::Embedding position_embedding{nullptr};
};
TORCH_MODULE(ClipVisionEmbeddings);

// vision_model.{embeddings, pre_layrnorm (transformers' spelling), encoder.layers, post_layernorm}
struct ClipVisionTransformerImpl : torch::nn::Module {
  explicit ClipVisionTransformerImpl(const ClipVisionConfig& config);
  ClipVisionEmbeddings embeddings{nullptr};
  torch::nn::LayerNorm pre_layrnorm{nullptr};
  torch::nn::ModuleList layers{nullptr};  // registered under "encoder"
  torch::nn::LayerNorm post_layernorm{nullptr};
};
TORCH_MODULE(ClipVisionTransformer);

struct ClipVisionModelImpl : torch::nn::Module {
  explicit ClipVisionModelImpl(const ClipVisionConfig& config);
  // pixel_values [B, num_channels, image_size, image_size] (cast to the weights' dtype).
  // Throws Error(INVALID_REQUEST) for another shape: positions are not interpolated.
  ClipVisionOutput forward(const at::Tensor& pixel_values);
  const ClipVisionConfig& config() const { return config_; }

  ClipVisionTransformer vision_model{nullptr};

 private:
  ClipVisionConfig config_;
};
TORCH_MODULE(ClipVisionModel);

}  // namespace workers
