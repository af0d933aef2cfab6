// CLIPTextModel (CLIP-L, quick_gelu) and CLIPTextModelWithProjection (OpenCLIP bigG, gelu) as
// transformers builds them: embeddings, causal pre-LN encoder, final LayerNorm, pooled EOS state,
// optional text_projection; every hidden state is returned (SDXL reads hidden_states[-2]).
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "models/nn/attention.h"
#include "models/nn/nn_configs.h"

namespace workers {

struct ClipTextOutput {
  at::Tensor last_hidden_state;            // [B, T, hidden], after final_layer_norm
  at::Tensor pooler_output;                // [B, hidden], last_hidden_state at the EOS token
  at::Tensor text_embeds;                  // [B, projection_dim], with projection only
  std::vector<at::Tensor> hidden_states;   // embeddings, then each layer's output (layers + 1)
};

struct ClipEmbeddingsImpl : torch::nn::Module {
  explicit ClipEmbeddingsImpl(const ClipTextConfig& config);
  at::Tensor forward(const at::Tensor& input_ids);
  torch::nn::Embedding token_embedding{nullptr}, position_embedding{nullptr};
};
TORCH_MODULE(ClipEmbeddings);

struct ClipAttentionImpl : torch::nn::Module {
  explicit ClipAttentionImpl(const ClipEncoderConfig& config);
  at::Tensor forward(const at::Tensor& x);
  std::int64_t heads;
  AttentionOptions kernel;
  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, out_proj{nullptr};
};
TORCH_MODULE(ClipAttention);

struct ClipMlpImpl : torch::nn::Module {
  explicit ClipMlpImpl(const ClipEncoderConfig& config);
  at::Tensor forward(const at::Tensor& x);
  bool quick_gelu;
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(ClipMlp);

struct ClipEncoderLayerImpl : torch::nn::Module {
  explicit ClipEncoderLayerImpl(const ClipEncoderConfig& config);
  at::Tensor forward(const at::Tensor& x);
  torch::nn::LayerNorm layer_norm1{nullptr}, layer_norm2{nullptr};
  ClipAttention self_attn{nullptr};
  ClipMlp mlp{nullptr};
};
TORCH_MODULE(ClipEncoderLayer);

// text_model.{embeddings, encoder.layers, final_layer_norm}
struct ClipTextTransformerImpl : torch::nn::Module {
  explicit ClipTextTransformerImpl(const ClipTextConfig& config);
  ClipEmbeddings embeddings{nullptr};
  torch::nn::Module* encoder = nullptr;
  torch::nn::ModuleList layers{nullptr};
  torch::nn::LayerNorm final_layer_norm{nullptr};
};
TORCH_MODULE(ClipTextTransformer);

struct ClipTextModelImpl : torch::nn::Module {
  explicit ClipTextModelImpl(const ClipTextConfig& config);
  // input_ids [B, T] (int64), T <= max_position_embeddings.
  ClipTextOutput forward(const at::Tensor& input_ids);
  const ClipTextConfig& config() const { return config_; }

  ClipTextTransformer text_model{nullptr};
  torch::nn::Linear text_projection{nullptr};  // CLIPTextModelWithProjection only

 private:
  ClipTextConfig config_;
};
TORCH_MODULE(ClipTextModel);

// Names a checkpoint may carry that the module computes instead (transformers' position_ids buffer).
const std::vector<std::string>& clip_ignored_keys();

}  // namespace workers
