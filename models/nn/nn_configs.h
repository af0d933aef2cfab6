// Network configs parsed from a component's config.json (diffusers/transformers spelling): the
// options the modules in models/nn/ are built from. Torch-free, so configs can be checked offline.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace workers {

// Per-block lists are expanded to one entry per down block (an int in the JSON repeats).
// Parsing throws Error(MODEL_LOAD_ERROR) naming `where` and the key: bad values, and features
// of UNet2DConditionModel this engine does not implement (class embeddings, IP adapters' hidden
// projections, ...) so a model never runs with part of its config ignored.
struct UNetConfig {
  std::int64_t in_channels = 4;
  std::int64_t out_channels = 4;
  std::vector<std::int64_t> block_out_channels;
  std::vector<std::string> down_block_types;  // DownBlock2D | CrossAttnDownBlock2D
  std::vector<std::string> up_block_types;    // UpBlock2D | CrossAttnUpBlock2D
  std::vector<std::int64_t> layers_per_block;
  std::vector<std::int64_t> transformer_layers_per_block;
  std::vector<std::int64_t> reverse_transformer_layers_per_block;  // up blocks, in up order
  std::vector<std::int64_t> num_attention_heads;  // attention_head_dim in SDXL configs (a head count)
  std::vector<std::int64_t> cross_attention_dim;
  bool use_linear_projection = false;
  bool upcast_attention = false;
  bool center_input_sample = false;
  std::int64_t norm_num_groups = 32;
  double norm_eps = 1e-5;
  std::int64_t conv_in_kernel = 3;
  std::int64_t conv_out_kernel = 3;
  std::int64_t downsample_padding = 1;
  double mid_block_scale_factor = 1.0;
  double resnet_out_scale_factor = 1.0;
  bool flip_sin_to_cos = true;
  double freq_shift = 0.0;
  std::int64_t time_embedding_dim = 0;  // block_out_channels[0] * 4 when the config says null
  // addition_embed_type "text_time" (SDXL): pooled text embeds + Fourier-embedded time ids.
  bool text_time_embedding = false;
  std::int64_t addition_time_embed_dim = 0;
  std::int64_t projection_class_embeddings_input_dim = 0;
  // ControlNet only.
  std::int64_t conditioning_channels = 3;
  std::vector<std::int64_t> conditioning_embedding_out_channels;
  bool global_pool_conditions = false;
  bool bgr_conditioning = false;  // controlnet_conditioning_channel_order == "bgr"

  std::int64_t sample_size = 128;

  // How many time ids the add_embedding expects (SDXL base: 6, refiner: 5); 0 without text_time.
  std::int64_t num_time_ids(std::int64_t pooled_dim) const;

  static UNetConfig from_json(const nlohmann::json& config, const std::string& where);
  // ControlNetModel's config.json: the UNet encoder keys plus the conditioning embedding.
  static UNetConfig controlnet_from_json(const nlohmann::json& config, const std::string& where);
};

struct VaeConfig {
  std::int64_t in_channels = 3;
  std::int64_t out_channels = 3;
  std::int64_t latent_channels = 4;
  std::vector<std::int64_t> block_out_channels;
  std::int64_t layers_per_block = 2;
  std::int64_t norm_num_groups = 32;
  std::int64_t sample_size = 1024;
  double scaling_factor = 0.13025;
  double shift_factor = 0.0;
  bool force_upcast = true;
  bool mid_block_add_attention = true;
  bool use_quant_conv = true;
  bool use_post_quant_conv = true;

  std::int64_t downscale_factor() const;  // 2^(levels - 1): 8 for SDXL

  static VaeConfig from_json(const nlohmann::json& config, const std::string& where);
};

// What CLIP's encoder layers are built from, shared by the text and the vision towers.
struct ClipEncoderConfig {
  std::int64_t hidden_size = 768;
  std::int64_t intermediate_size = 3072;
  std::int64_t num_hidden_layers = 12;
  std::int64_t num_attention_heads = 12;
  std::string hidden_act = "quick_gelu";  // quick_gelu | gelu
  double layer_norm_eps = 1e-5;
  bool causal = true;  // the text tower masks future tokens; the vision tower attends both ways
};

struct ClipTextConfig : ClipEncoderConfig {
  std::int64_t vocab_size = 49408;
  std::int64_t max_position_embeddings = 77;
  std::int64_t projection_dim = 768;
  std::int64_t eos_token_id = 2;
  bool with_projection = false;  // CLIPTextModelWithProjection (text_projection, text_embeds)

  static ClipTextConfig from_json(const nlohmann::json& config, const std::string& where);
};

}  // namespace workers
