#include "models/nn/nn_configs.h"

#include <algorithm>

#include "utilities/error.h"
#include "utilities/json_fields.h"

namespace workers {
namespace {

// Reads one config.json with MODEL_LOAD_ERROR messages that name the file and key.
class ConfigReader {
 public:
  ConfigReader(const nlohmann::json& config, const std::string& where)
      : fields_(config, where, ErrorCode::kModelLoadError) {}

  std::int64_t positive(const std::string& key, std::int64_t fallback) {
    auto value = fields_.integer(key).value_or(fallback);
    if (value <= 0) fields_.fail(key, "must be positive, got " + std::to_string(value));
    return value;
  }
  double number(const std::string& key, double fallback) { return fields_.number(key).value_or(fallback); }
  bool flag(const std::string& key, bool fallback) { return fields_.boolean(key).value_or(fallback); }
  std::string text(const std::string& key, const std::string& fallback) {
    return fields_.string(key).value_or(fallback);
  }
  bool present(const std::string& key) { return fields_.raw(key) != nullptr; }

  // A list of positive integers, or one integer repeated `count` times (count 0: any length).
  std::vector<std::int64_t> per_block(const std::string& key, std::size_t count, std::int64_t fallback = 0) {
    const auto* value = fields_.raw(key);
    if (!value) {
      if (fallback <= 0) fields_.fail(key, "is required");
      return std::vector<std::int64_t>(count, fallback);
    }
    std::vector<std::int64_t> out;
    if (value->is_number_integer()) {
      out.assign(count, value->get<std::int64_t>());
    } else if (value->is_array()) {
      for (const auto& item : *value) {
        if (!item.is_number_integer()) fields_.fail(key, "must hold integers, got " + item.dump());
        out.push_back(item.get<std::int64_t>());
      }
      if (count != 0 && out.size() != count) {
        fields_.fail(key, "has " + std::to_string(out.size()) + " entries, expected " + std::to_string(count));
      }
    } else {
      fields_.fail(key, "must be an integer or a list of integers, got " + json_type_name(*value));
    }
    if (out.empty()) fields_.fail(key, "must not be empty");
    for (auto v : out) {
      if (v <= 0) fields_.fail(key, "must hold positive integers, got " + std::to_string(v));
    }
    return out;
  }

  std::vector<std::string> names(const std::string& key, const std::vector<std::string>& allowed) {
    auto list = fields_.string_list(key);
    if (!list || list->empty()) fields_.fail(key, "is required");
    for (const auto& name : *list) {
      if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
        std::string known;
        for (const auto& a : allowed) known += (known.empty() ? "" : ", ") + a;
        fields_.fail(key, "block type \"" + name + "\" is not supported (supported: " + known + ")");
      }
    }
    return *list;
  }

  // Keys that change the network in ways this engine does not implement must hold their
  // neutral value; otherwise the model is refused instead of silently computed wrong.
  void require_null(const std::string& key) {
    const auto* value = fields_.raw(key);
    if (value) fields_.fail(key, "is not supported (got " + value->dump() + ")");
  }
  void require_value(const std::string& key, const nlohmann::json& neutral) {
    const auto* value = fields_.raw(key);
    if (value && *value != neutral) {
      fields_.fail(key, "is not supported: only " + neutral.dump() + " (got " + value->dump() + ")");
    }
  }
  [[noreturn]] void fail(const std::string& key, const std::string& message) { fields_.fail(key, message); }

 private:
  FieldReader fields_;
};

// The keys UNet2DConditionModel and ControlNetModel share (the encoder half and embeddings).
void read_unet_encoder(ConfigReader& r, UNetConfig& c) {
  c.in_channels = r.positive("in_channels", 4);
  c.block_out_channels = r.per_block("block_out_channels", 0);
  const auto blocks = c.block_out_channels.size();
  c.down_block_types = r.names("down_block_types", {"DownBlock2D", "CrossAttnDownBlock2D"});
  if (c.down_block_types.size() != blocks) {
    r.fail("down_block_types", "has " + std::to_string(c.down_block_types.size()) +
                                   " entries but block_out_channels has " + std::to_string(blocks));
  }
  c.layers_per_block = r.per_block("layers_per_block", blocks);
  c.transformer_layers_per_block = r.per_block("transformer_layers_per_block", blocks, 1);
  // diffusers' historical naming: attention_head_dim holds the head count unless
  // num_attention_heads is given.
  c.num_attention_heads = r.present("num_attention_heads") ? r.per_block("num_attention_heads", blocks)
                                                          : r.per_block("attention_head_dim", blocks, 8);
  c.cross_attention_dim = r.per_block("cross_attention_dim", blocks, 1280);
  c.use_linear_projection = r.flag("use_linear_projection", false);
  c.upcast_attention = r.flag("upcast_attention", false);
  c.norm_num_groups = r.positive("norm_num_groups", 32);
  c.norm_eps = r.number("norm_eps", 1e-5);
  c.downsample_padding = r.per_block("downsample_padding", 1, 1)[0];
  c.mid_block_scale_factor = r.number("mid_block_scale_factor", 1.0);
  c.flip_sin_to_cos = r.flag("flip_sin_to_cos", true);
  c.freq_shift = r.number("freq_shift", 0.0);
  for (std::size_t i = 0; i < blocks; ++i) {
    if (c.block_out_channels[i] % c.norm_num_groups != 0) {
      r.fail("block_out_channels", std::to_string(c.block_out_channels[i]) + " channels do not divide into " +
                                       std::to_string(c.norm_num_groups) + " norm groups");
    }
    if (c.block_out_channels[i] % c.num_attention_heads[i] != 0) {
      r.fail("attention_head_dim", std::to_string(c.block_out_channels[i]) + " channels do not divide into " +
                                       std::to_string(c.num_attention_heads[i]) + " heads");
    }
  }
  const auto addition = r.text("addition_embed_type", "");
  if (addition == "text_time") {
    c.text_time_embedding = true;
    c.addition_time_embed_dim = r.positive("addition_time_embed_dim", 256);
    c.projection_class_embeddings_input_dim = r.positive("projection_class_embeddings_input_dim", 2816);
  } else if (!addition.empty()) {
    r.fail("addition_embed_type", "only \"text_time\" (SDXL) is supported, got \"" + addition + "\"");
  }
  r.require_null("class_embed_type");
  r.require_null("num_class_embeds");
  r.require_null("encoder_hid_dim");
  r.require_null("encoder_hid_dim_type");
  r.require_value("act_fn", "silu");
  r.require_value("resnet_time_scale_shift", "default");
  r.require_value("only_cross_attention", false);
  r.require_value("mid_block_type", "UNetMidBlock2DCrossAttn");
}

}  // namespace

std::int64_t UNetConfig::num_time_ids(std::int64_t pooled_dim) const {
  if (!text_time_embedding) return 0;
  return (projection_class_embeddings_input_dim - pooled_dim) / addition_time_embed_dim;
}

UNetConfig UNetConfig::from_json(const nlohmann::json& config, const std::string& where) {
  ConfigReader r(config, where);
  UNetConfig c;
  read_unet_encoder(r, c);
  const auto blocks = c.block_out_channels.size();
  c.out_channels = r.positive("out_channels", 4);
  c.up_block_types = r.names("up_block_types", {"UpBlock2D", "CrossAttnUpBlock2D"});
  if (c.up_block_types.size() != blocks) r.fail("up_block_types", "must have one entry per down block");
  if (r.present("reverse_transformer_layers_per_block")) {
    c.reverse_transformer_layers_per_block = r.per_block("reverse_transformer_layers_per_block", blocks);
  } else {
    c.reverse_transformer_layers_per_block.assign(c.transformer_layers_per_block.rbegin(),
                                                  c.transformer_layers_per_block.rend());
  }
  c.center_input_sample = r.flag("center_input_sample", false);
  c.conv_in_kernel = r.positive("conv_in_kernel", 3);
  c.conv_out_kernel = r.positive("conv_out_kernel", 3);
  if (c.conv_in_kernel % 2 == 0) r.fail("conv_in_kernel", "must be odd");
  if (c.conv_out_kernel % 2 == 0) r.fail("conv_out_kernel", "must be odd");
  c.resnet_out_scale_factor = r.number("resnet_out_scale_factor", 1.0);
  c.time_embedding_dim = r.present("time_embedding_dim") ? r.positive("time_embedding_dim", 0)
                                                          : c.block_out_channels[0] * 4;
  c.sample_size = r.positive("sample_size", 128);
  r.require_value("time_embedding_type", "positional");
  r.require_null("time_cond_proj_dim");
  r.require_null("time_embedding_act_fn");
  r.require_null("timestep_post_act");
  r.require_value("attention_type", "default");
  r.require_value("dual_cross_attention", false);
  r.require_value("class_embeddings_concat", false);
  r.require_value("resnet_skip_time_act", false);
  r.require_null("cross_attention_norm");
  r.require_null("mid_block_only_cross_attention");
  return c;
}

UNetConfig UNetConfig::controlnet_from_json(const nlohmann::json& config, const std::string& where) {
  ConfigReader r(config, where);
  UNetConfig c;
  read_unet_encoder(r, c);
  c.time_embedding_dim = c.block_out_channels[0] * 4;
  c.conditioning_channels = r.positive("conditioning_channels", 3);
  c.conditioning_embedding_out_channels = r.per_block("conditioning_embedding_out_channels", 0, 0);
  c.global_pool_conditions = r.flag("global_pool_conditions", false);
  const auto order = r.text("controlnet_conditioning_channel_order", "rgb");
  if (order != "rgb" && order != "bgr") r.fail("controlnet_conditioning_channel_order", "must be rgb or bgr");
  c.bgr_conditioning = order == "bgr";
  return c;
}

std::int64_t VaeConfig::downscale_factor() const {
  return std::int64_t{1} << (block_out_channels.size() - 1);
}

VaeConfig VaeConfig::from_json(const nlohmann::json& config, const std::string& where) {
  ConfigReader r(config, where);
  VaeConfig c;
  c.in_channels = r.positive("in_channels", 3);
  c.out_channels = r.positive("out_channels", 3);
  c.latent_channels = r.positive("latent_channels", 4);
  c.block_out_channels = r.per_block("block_out_channels", 0);
  const auto blocks = c.block_out_channels.size();
  auto down = r.names("down_block_types", {"DownEncoderBlock2D"});
  auto up = r.names("up_block_types", {"UpDecoderBlock2D"});
  if (down.size() != blocks || up.size() != blocks) {
    r.fail("down_block_types", "down and up block types need one entry per block_out_channels entry");
  }
  c.layers_per_block = r.positive("layers_per_block", 2);
  c.norm_num_groups = r.positive("norm_num_groups", 32);
  for (auto ch : c.block_out_channels) {
    if (ch % c.norm_num_groups != 0) r.fail("norm_num_groups", "does not divide " + std::to_string(ch) + " channels");
  }
  c.sample_size = r.positive("sample_size", 1024);
  c.scaling_factor = r.number("scaling_factor", 0.13025);
  if (c.scaling_factor <= 0) r.fail("scaling_factor", "must be positive");
  c.shift_factor = r.number("shift_factor", 0.0);
  c.force_upcast = r.flag("force_upcast", true);
  c.mid_block_add_attention = r.flag("mid_block_add_attention", true);
  c.use_quant_conv = r.flag("use_quant_conv", true);
  c.use_post_quant_conv = r.flag("use_post_quant_conv", true);
  r.require_value("act_fn", "silu");
  r.require_null("latents_mean");
  r.require_null("latents_std");
  return c;
}

ClipTextConfig ClipTextConfig::from_json(const nlohmann::json& config, const std::string& where) {
  ConfigReader r(config, where);
  ClipTextConfig c;
  c.vocab_size = r.positive("vocab_size", 49408);
  c.hidden_size = r.positive("hidden_size", 512);
  c.intermediate_size = r.positive("intermediate_size", 2048);
  c.num_hidden_layers = r.positive("num_hidden_layers", 12);
  c.num_attention_heads = r.positive("num_attention_heads", 8);
  if (c.hidden_size % c.num_attention_heads != 0) r.fail("num_attention_heads", "must divide hidden_size");
  c.max_position_embeddings = r.positive("max_position_embeddings", 77);
  c.hidden_act = r.text("hidden_act", "quick_gelu");
  if (c.hidden_act != "quick_gelu" && c.hidden_act != "gelu") {
    r.fail("hidden_act", "must be quick_gelu or gelu, got \"" + c.hidden_act + "\"");
  }
  c.layer_norm_eps = r.number("layer_norm_eps", 1e-5);
  c.projection_dim = r.positive("projection_dim", 512);
  c.eos_token_id = r.positive("eos_token_id", 2);
  if (const auto* arch = config.find("architectures") != config.end() ? &config["architectures"] : nullptr;
      arch && arch->is_array() && !arch->empty() && (*arch)[0].is_string()) {
    const auto name = (*arch)[0].get<std::string>();
    if (name != "CLIPTextModel" && name != "CLIPTextModelWithProjection") {
      r.fail("architectures", "must be CLIPTextModel or CLIPTextModelWithProjection, got \"" + name + "\"");
    }
    c.with_projection = name == "CLIPTextModelWithProjection";
  }
  return c;
}

}  // namespace workers
