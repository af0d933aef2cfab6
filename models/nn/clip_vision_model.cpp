#include "models/nn/clip_vision_model.h"

#include "utilities/error.h"
#include "utilities/json_fields.h"

namespace workers {
namespace {

std::int64_t positive(FieldReader& r, const std::string& key, std::int64_t fallback) {
  const auto value = r.integer(key).value_or(fallback);
  if (value <= 0) r.fail(key, "must be positive, got " + std::to_string(value));
  return value;
}

}  // namespace

std::int64_t ClipVisionConfig::num_positions() const {
  const auto grid = image_size / patch_size;
  return grid * grid + 1;
}

ClipVisionConfig ClipVisionConfig::from_json(const nlohmann::json& config,
                                             const std::string& where) {
  FieldReader r(config, where, ErrorCode::kModelLoadError);
  ClipVisionConfig c;
  c.hidden_size = positive(r, "hidden_size", c.hidden_size);
  c.intermediate_size = positive(r, "intermediate_size", c.intermediate_size);
  c.num_hidden_layers = positive(r, "num_hidden_layers", c.num_hidden_layers);
  c.num_attention_heads = positive(r, "num_attention_heads", c.num_attention_heads);
  if (c.hidden_size % c.num_attention_heads != 0)
    r.fail("num_attention_heads", "must divide hidden_size");
  c.num_channels = positive(r, "num_channels", c.num_channels);
  c.image_size = positive(r, "image_size", c.image_size);
  c.patch_size = positive(r, "patch_size", c.patch_size);
  // transformers' conv has stride = kernel = patch: a remainder would be silently cropped.
  if (c.image_size % c.patch_size != 0) r.fail("patch_size", "must divide image_size");
  c.hidden_act = r.string("hidden_act").value_or(c.hidden_act);
  // The shared MLP knows these two; any other activation would be computed as gelu.
  if (c.hidden_act != "quick_gelu" && c.hidden_act != "gelu") {
    r.fail("hidden_act", "must be quick_gelu or gelu, got \"" + c.hidden_act + "\"");
  }
  c.layer_norm_eps = r.number("layer_norm_eps").value_or(c.layer_norm_eps);
  return c;
}

ClipVisionEmbeddingsImpl::ClipVisionEmbeddingsImpl(const ClipVisionConfig& c) {
  using namespace torch::nn;
  // Its value comes from the weights (load_weights requires every parameter).
  class_embedding = register_parameter("class_embedding", torch::zeros({c.hidden_size}));
  patch_embedding = register_module(
      "patch_embedding", Conv2d(Conv2dOptions(c.num_channels, c.hidden_size, c.patch_size)
                                    .stride(c.patch_size)
                                    .bias(false)));
  position_embedding =
      register_module("position_embedding", Embedding(c.num_positions(), c.hidden_size));
}

at::Tensor ClipVisionEmbeddingsImpl::forward(const at::Tensor& pixel_values) {
  const auto batch = pixel_values.size(0);
  auto patches = patch_embedding(pixel_values.to(patch_embedding->weight.scalar_type()));
  patches = patches.flatten(2).transpose(1, 2);  // [B, grid², hidden]
  auto cls = class_embedding.view({1, 1, -1}).expand({batch, 1, -1});
  return torch::cat({cls, patches}, 1) + position_embedding->weight.unsqueeze(0);
}

ClipVisionTransformerImpl::ClipVisionTransformerImpl(const ClipVisionConfig& c) {
  using namespace torch::nn;
  embeddings = register_module("embeddings", ClipVisionEmbeddings(c));
  pre_layrnorm = register_module(
      "pre_layrnorm", LayerNorm(LayerNormOptions({c.hidden_size}).eps(c.layer_norm_eps)));
  auto encoder = register_module("encoder", std::make_shared<Module>());
  layers = encoder->register_module("layers", ModuleList());
  for (std::int64_t i = 0; i < c.num_hidden_layers; ++i) {
    layers->push_back(ClipEncoderLayer(c));  // c.causal is false: every patch sees every patch
  }
  post_layernorm = register_module(
      "post_layernorm", LayerNorm(LayerNormOptions({c.hidden_size}).eps(c.layer_norm_eps)));
}

ClipVisionModelImpl::ClipVisionModelImpl(const ClipVisionConfig& c) : config_(c) {
  vision_model = register_module("vision_model", ClipVisionTransformer(c));
}

ClipVisionOutput ClipVisionModelImpl::forward(const at::Tensor& pixel_values) {
  const auto& c = config_;
  if (pixel_values.dim() != 4 || pixel_values.size(1) != c.num_channels ||
      pixel_values.size(2) != c.image_size || pixel_values.size(3) != c.image_size) {
    throw Error(ErrorCode::kInvalidRequest,
                "CLIP vision model: pixel values " + c10::str(pixel_values.sizes()) +
                    " must be [batch, " + std::to_string(c.num_channels) + ", " +
                    std::to_string(c.image_size) + ", " + std::to_string(c.image_size) + "]");
  }
  ClipVisionOutput out;
  auto h = vision_model->pre_layrnorm(vision_model->embeddings(pixel_values));
  out.hidden_states.push_back(h);
  for (const auto& layer : *vision_model->layers) {
    h = layer->as<ClipEncoderLayerImpl>()->forward(h);
    out.hidden_states.push_back(h);
  }
  out.last_hidden_state = h;
  out.pooler_output = vision_model->post_layernorm(h.select(1, 0));
  return out;
}

}  // namespace workers
