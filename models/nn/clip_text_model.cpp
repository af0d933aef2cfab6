#include "models/nn/clip_text_model.h"

#include "models/nn/weight_stream.h"
#include "utilities/error.h"

namespace workers {

ClipEmbeddingsImpl::ClipEmbeddingsImpl(const ClipTextConfig& c) {
  token_embedding = register_module("token_embedding", torch::nn::Embedding(c.vocab_size, c.hidden_size));
  position_embedding =
      register_module("position_embedding", torch::nn::Embedding(c.max_position_embeddings, c.hidden_size));
}

at::Tensor ClipEmbeddingsImpl::forward(const at::Tensor& input_ids) {
  auto positions = torch::arange(input_ids.size(1), torch::dtype(torch::kLong).device(input_ids.device()));
  return token_embedding(input_ids) + position_embedding(positions).unsqueeze(0);
}

ClipAttentionImpl::ClipAttentionImpl(const ClipEncoderConfig& c) : heads(c.num_attention_heads) {
  kernel.causal = c.causal;
  q_proj = register_module("q_proj", torch::nn::Linear(c.hidden_size, c.hidden_size));
  k_proj = register_module("k_proj", torch::nn::Linear(c.hidden_size, c.hidden_size));
  v_proj = register_module("v_proj", torch::nn::Linear(c.hidden_size, c.hidden_size));
  out_proj = register_module("out_proj", torch::nn::Linear(c.hidden_size, c.hidden_size));
}

at::Tensor ClipAttentionImpl::forward(const at::Tensor& x) {
  return out_proj(attention(q_proj(x), k_proj(x), v_proj(x), heads, kernel));
}

ClipMlpImpl::ClipMlpImpl(const ClipEncoderConfig& c) : quick_gelu(c.hidden_act == "quick_gelu") {
  fc1 = register_module("fc1", torch::nn::Linear(c.hidden_size, c.intermediate_size));
  fc2 = register_module("fc2", torch::nn::Linear(c.intermediate_size, c.hidden_size));
}

at::Tensor ClipMlpImpl::forward(const at::Tensor& x) {
  auto h = fc1(x);
  h = quick_gelu ? h * torch::sigmoid(1.702 * h) : torch::gelu(h);
  return fc2(h);
}

ClipEncoderLayerImpl::ClipEncoderLayerImpl(const ClipEncoderConfig& c) {
  using namespace torch::nn;
  layer_norm1 = register_module("layer_norm1", LayerNorm(LayerNormOptions({c.hidden_size}).eps(c.layer_norm_eps)));
  self_attn = register_module("self_attn", ClipAttention(c));
  layer_norm2 = register_module("layer_norm2", LayerNorm(LayerNormOptions({c.hidden_size}).eps(c.layer_norm_eps)));
  mlp = register_module("mlp", ClipMlp(c));
  shrink_if_lean(*this);
}

at::Tensor ClipEncoderLayerImpl::forward(const at::Tensor& x) {
  const StreamScope stream(this);
  auto h = x + self_attn(layer_norm1(x));
  return h + mlp(layer_norm2(h));
}

ClipTextTransformerImpl::ClipTextTransformerImpl(const ClipTextConfig& c) {
  using namespace torch::nn;
  embeddings = register_module("embeddings", ClipEmbeddings(c));
  auto encoder_module = register_module("encoder", std::make_shared<Module>());
  layers = encoder_module->register_module("layers", ModuleList());
  for (std::int64_t i = 0; i < c.num_hidden_layers; ++i) layers->push_back(ClipEncoderLayer(c));
  encoder = encoder_module.get();
  final_layer_norm =
      register_module("final_layer_norm", LayerNorm(LayerNormOptions({c.hidden_size}).eps(c.layer_norm_eps)));
}

ClipTextModelImpl::ClipTextModelImpl(const ClipTextConfig& c) : config_(c) {
  text_model = register_module("text_model", ClipTextTransformer(c));
  if (c.with_projection) {
    text_projection = register_module(
        "text_projection", torch::nn::Linear(torch::nn::LinearOptions(c.hidden_size, c.projection_dim).bias(false)));
  }
}

ClipTextOutput ClipTextModelImpl::forward(const at::Tensor& input_ids) {
  const StreamScope stream(this);
  if (input_ids.dim() != 2 || input_ids.size(1) > config_.max_position_embeddings) {
    throw Error(ErrorCode::kInvalidPrompt, "CLIP text encoder: token ids " + c10::str(input_ids.sizes()) +
                                               " must be [batch, <= " +
                                               std::to_string(config_.max_position_embeddings) + "]");
  }
  ClipTextOutput out;
  auto h = text_model->embeddings(input_ids);
  out.hidden_states.push_back(h);
  for (const auto& layer : *text_model->layers) {
    h = layer->as<ClipEncoderLayerImpl>()->forward(h);
    out.hidden_states.push_back(h);
  }
  out.last_hidden_state = text_model->final_layer_norm(h);
  // transformers' legacy rule for configs with eos_token_id == 2: the EOS token has the largest
  // id, so argmax finds it (its first occurrence); newer configs name the real EOS id.
  auto eos = config_.eos_token_id == 2 ? input_ids.argmax(-1) : input_ids.eq(config_.eos_token_id).to(torch::kInt).argmax(-1);
  auto rows = torch::arange(input_ids.size(0), torch::dtype(torch::kLong).device(input_ids.device()));
  out.pooler_output = out.last_hidden_state.index({rows, eos.to(torch::kLong)});
  if (text_projection) out.text_embeds = text_projection(out.pooler_output);
  return out;
}

const std::vector<std::string>& clip_ignored_keys() {
  static const std::vector<std::string> keys{"text_model.embeddings.position_ids"};
  return keys;
}

}  // namespace workers
