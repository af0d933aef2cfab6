#include "models/io/single_file_checkpoint.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>

#include <torch/torch.h>

#include "models/io/sgm_key_map.h"
#include "utilities/error.h"
#include "utilities/strings.h"

namespace workers {
namespace {

const std::string kUnetPrefix = "model.diffusion_model.";
const std::string kVaePrefix = "first_stage_model.";

[[noreturn]] void fail(const std::string& path, const std::string& problem) {
  throw Error(ErrorCode::kModelLoadError, path + ": " + problem);
}

using TensorList = std::vector<std::pair<std::string, at::Tensor>>;

const at::Tensor* find_tensor(const TensorList& list, const std::string& name) {
  for (const auto& [n, t] : list) {
    if (n == name) return &t;
  }
  return nullptr;
}

std::int64_t dim_of(const TensorList& list, const std::string& name, int dim, const std::string& path) {
  const auto* t = find_tensor(list, name);
  if (!t) fail(path, "expected tensor " + name + " after conversion is missing");
  return t->size(dim);
}

int count_indices(const TensorList& list, const std::string& prefix) {
  std::set<int> seen;
  for (const auto& [name, t] : list) {
    if (!starts_with(name, prefix)) continue;
    const auto rest = name.substr(prefix.size());
    const auto dot = rest.find('.');
    if (dot != std::string::npos && dot > 0 && std::all_of(rest.begin(), rest.begin() + dot, ::isdigit)) {
      seen.insert(std::stoi(rest.substr(0, dot)));
    }
  }
  return static_cast<int>(seen.size());
}

// Adds a converted tensor (applying the key's transform) to `out`.
void add_converted(TensorList& out, const MappedKey& mapped, const at::Tensor& source) {
  switch (mapped.transform) {
    case KeyTransform::kNone:
      out.emplace_back(mapped.name, source);
      return;
    case KeyTransform::kConv1x1ToLinear:
      out.emplace_back(mapped.name, source.reshape({source.size(0), source.size(1)}));
      return;
    case KeyTransform::kTranspose:
      out.emplace_back(mapped.name, source.t());
      return;
    case KeyTransform::kSplitQkv: {
      auto parts = source.chunk(3, 0);  // views: q, k, v stacked along dim 0
      const char* names[] = {"q", "k", "v"};
      for (int i = 0; i < 3; ++i) {
        std::string name = mapped.name;
        name.replace(name.find("{}"), 2, names[i]);
        out.emplace_back(name, parts[i]);
      }
      return;
    }
  }
}

nlohmann::json unet_config(const TensorList& t, const UnetLayout& layout, CheckpointKind kind,
                           std::int64_t pooled_dim, std::vector<std::string>& assumed, const std::string& path) {
  nlohmann::json c;
  c["_class_name"] = "UNet2DConditionModel";
  c["in_channels"] = dim_of(t, "conv_in.weight", 1, path);
  // A ControlNet is the encoder half only: no conv_out.
  c["out_channels"] = find_tensor(t, "conv_out.weight") ? dim_of(t, "conv_out.weight", 0, path) : c["in_channels"].get<std::int64_t>();
  c["layers_per_block"] = layout.layers_per_block;
  nlohmann::json channels = nlohmann::json::array(), down = nlohmann::json::array(), up = nlohmann::json::array(),
                 depth = nlohmann::json::array(), heads = nlohmann::json::array();
  bool heads_exact = true;
  std::int64_t cross = 0;
  bool linear = false;
  for (int level = 0; level < layout.levels; ++level) {
    const std::string block = "down_blocks." + std::to_string(level);
    const auto width = dim_of(t, block + ".resnets.0.conv1.weight", 0, path);
    channels.push_back(width);
    down.push_back(layout.attention[level] ? "CrossAttnDownBlock2D" : "DownBlock2D");
    up.insert(up.begin(), layout.attention[level] ? "CrossAttnUpBlock2D" : "UpBlock2D");
    if (layout.attention[level]) {
      const std::string attention = block + ".attentions.0.";
      depth.push_back(count_indices(t, attention + "transformer_blocks."));
      cross = dim_of(t, attention + "transformer_blocks.0.attn2.to_k.weight", 1, path);
      linear = find_tensor(t, attention + "proj_in.weight")->dim() == 2;
    } else {
      depth.push_back(1);
    }
    // Head counts are not in the shapes: SDXL's head dim is 64.
    heads_exact = heads_exact && width % 64 == 0;
    heads.push_back(std::max<std::int64_t>(1, width / 64));
  }
  // diffusers builds the mid block with transformer_layers_per_block[-1]: the last entry must be the
  // mid block's depth even when the last level has no attention (the refiner).
  if (layout.mid_attention) depth.back() = count_indices(t, "mid_block.attentions.0.transformer_blocks.");
  c["block_out_channels"] = channels;
  c["down_block_types"] = down;
  c["up_block_types"] = up;
  c["transformer_layers_per_block"] = depth;
  c["attention_head_dim"] = heads;
  if (!heads_exact) assumed.push_back("attention_head_dim");
  c["mid_block_type"] = layout.mid_attention ? "UNetMidBlock2DCrossAttn" : nullptr;
  c["cross_attention_dim"] = cross;
  c["use_linear_projection"] = linear;
  if (find_tensor(t, "add_embedding.linear_1.weight")) {
    const auto projection = dim_of(t, "add_embedding.linear_1.weight", 1, path);
    const int time_ids = kind == CheckpointKind::kSdxlRefiner ? 5 : 6;  // refiner: no target size
    c["addition_embed_type"] = "text_time";
    c["projection_class_embeddings_input_dim"] = projection;
    if (pooled_dim > 0 && projection > pooled_dim && (projection - pooled_dim) % time_ids == 0) {
      c["addition_time_embed_dim"] = (projection - pooled_dim) / time_ids;
    } else {
      c["addition_time_embed_dim"] = 256;
      assumed.push_back("addition_time_embed_dim");
    }
  }
  const auto time_dim = dim_of(t, "time_embedding.linear_1.weight", 0, path);
  c["time_embedding_dim"] = time_dim == 4 * channels[0].get<std::int64_t>() ? nlohmann::json(nullptr) : nlohmann::json(time_dim);
  c["flip_sin_to_cos"] = true;
  c["freq_shift"] = 0;
  c["act_fn"] = "silu";
  c["norm_eps"] = 1e-5;
  c["norm_num_groups"] = 32;
  c["sample_size"] = 128;
  c["upcast_attention"] = false;
  for (const char* key : {"flip_sin_to_cos", "freq_shift", "norm_num_groups", "sample_size", "upcast_attention"}) {
    assumed.push_back(key);
  }
  return c;
}

nlohmann::json vae_config(const TensorList& t, std::vector<std::string>& assumed, const std::string& path) {
  nlohmann::json c;
  c["_class_name"] = "AutoencoderKL";
  const int levels = count_indices(t, "encoder.down_blocks.");
  nlohmann::json channels = nlohmann::json::array(), down = nlohmann::json::array(), up = nlohmann::json::array();
  for (int i = 0; i < levels; ++i) {
    channels.push_back(dim_of(t, "encoder.down_blocks." + std::to_string(i) + ".resnets.0.conv1.weight", 0, path));
    down.push_back("DownEncoderBlock2D");
    up.push_back("UpDecoderBlock2D");
  }
  c["block_out_channels"] = channels;
  c["down_block_types"] = down;
  c["up_block_types"] = up;
  c["layers_per_block"] = count_indices(t, "encoder.down_blocks.0.resnets.");
  c["in_channels"] = dim_of(t, "encoder.conv_in.weight", 1, path);
  c["out_channels"] = dim_of(t, "decoder.conv_out.weight", 0, path);
  c["latent_channels"] = dim_of(t, "decoder.conv_in.weight", 1, path);
  c["use_quant_conv"] = find_tensor(t, "quant_conv.weight") != nullptr;
  c["use_post_quant_conv"] = find_tensor(t, "post_quant_conv.weight") != nullptr;
  c["mid_block_add_attention"] = find_tensor(t, "encoder.mid_block.attentions.0.to_q.weight") != nullptr;
  c["act_fn"] = "silu";
  c["norm_num_groups"] = 32;
  c["scaling_factor"] = 0.13025;  // SDXL's VAE
  c["force_upcast"] = true;
  c["sample_size"] = 1024;
  for (const char* key : {"norm_num_groups", "scaling_factor", "force_upcast", "sample_size"}) assumed.push_back(key);
  return c;
}

nlohmann::json text_config(const TensorList& t, bool open_clip, std::vector<std::string>& assumed,
                           const std::string& path) {
  nlohmann::json c;
  const auto hidden = dim_of(t, "text_model.embeddings.token_embedding.weight", 1, path);
  c["architectures"] = {open_clip ? "CLIPTextModelWithProjection" : "CLIPTextModel"};
  c["model_type"] = "clip_text_model";
  c["vocab_size"] = dim_of(t, "text_model.embeddings.token_embedding.weight", 0, path);
  c["hidden_size"] = hidden;
  c["max_position_embeddings"] = dim_of(t, "text_model.embeddings.position_embedding.weight", 0, path);
  c["num_hidden_layers"] = count_indices(t, "text_model.encoder.layers.");
  c["intermediate_size"] = dim_of(t, "text_model.encoder.layers.0.mlp.fc1.weight", 0, path);
  c["num_attention_heads"] = std::max<std::int64_t>(1, hidden / 64);
  if (hidden % 64 != 0) assumed.push_back("num_attention_heads");
  // OpenAI CLIP-L uses quick_gelu; OpenCLIP bigG uses gelu: a fact of each embedder, not a guess.
  c["hidden_act"] = open_clip ? "gelu" : "quick_gelu";
  c["projection_dim"] = open_clip ? dim_of(t, "text_projection.weight", 0, path) : hidden;
  c["layer_norm_eps"] = 1e-5;
  c["bos_token_id"] = 0;
  c["eos_token_id"] = 2;
  c["pad_token_id"] = 1;
  return c;
}

// Keys whose values the tensor shapes decide; a config_from must agree with them.
const std::vector<std::string> kUnetShapeKeys = {
    "in_channels", "layers_per_block", "block_out_channels", "down_block_types", "transformer_layers_per_block",
    "cross_attention_dim", "use_linear_projection", "projection_class_embeddings_input_dim"};

const std::map<std::string, std::vector<std::string>> kShapeKeys = {
    {"unet", [] {
       auto keys = kUnetShapeKeys;
       keys.insert(keys.end(), {"out_channels", "up_block_types"});
       return keys;
     }()},
    {"controlnet", [] {
       auto keys = kUnetShapeKeys;
       keys.insert(keys.end(), {"conditioning_channels", "conditioning_embedding_out_channels"});
       return keys;
     }()},
    {"vae", {"block_out_channels", "layers_per_block", "in_channels", "out_channels", "latent_channels"}},
    {"text_encoder", {"vocab_size", "hidden_size", "max_position_embeddings", "num_hidden_layers", "intermediate_size"}},
    {"text_encoder_2",
     {"vocab_size", "hidden_size", "max_position_embeddings", "num_hidden_layers", "intermediate_size", "projection_dim"}},
};

// diffusers writes an int where a list has equal entries (transformer_layers_per_block: 1).
nlohmann::json normalised(const nlohmann::json& value, std::size_t length) {
  if (value.is_number_integer() && length > 0) return nlohmann::json(std::vector<nlohmann::json>(length, value));
  return value;
}

// `file`: the config.json that wins over the inferred config (checked against the shapes).
void apply_config_from(ConvertedComponent& component, const std::filesystem::path& file, const std::string& path) {
  if (!std::filesystem::is_regular_file(file)) return;  // not given for this component: keep inferred
  nlohmann::json given;
  try {
    std::ifstream in(file);
    given = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    fail(file.string(), std::string("not valid JSON: ") + e.what());
  }
  for (const auto& key : kShapeKeys.at(component.name)) {
    if (!component.config.contains(key) || !given.contains(key)) continue;
    auto inferred = component.config[key];
    auto stated = normalised(given[key], inferred.is_array() ? inferred.size() : 0);
    if (key == "transformer_layers_per_block" && stated.is_array() && stated.size() == inferred.size()) {
      // Depth is meaningless on levels without attention (the last entry also sets the mid block).
      const auto& types = component.config["down_block_types"];
      for (std::size_t i = 0; i + 1 < inferred.size(); ++i) {
        if (types[i] == "DownBlock2D") stated[i] = inferred[i];
      }
    }
    if (stated != inferred) {
      fail(path, "config " + file.string() + " says " + key + " = " + given[key].dump() + " but the checkpoint's tensors have " +
                     inferred.dump());
    }
  }
  component.config = given;
  component.assumed.clear();
}

}  // namespace

std::string_view to_string(CheckpointKind kind) {
  switch (kind) {
    case CheckpointKind::kSdxlBase: return "sdxl-base";
    case CheckpointKind::kSdxlRefiner: return "sdxl-refiner";
    case CheckpointKind::kSdxlInpaint: return "sdxl-inpaint";
  }
  return "unknown";
}

const ConvertedComponent* SingleFileCheckpoint::find(const std::string& name) const {
  for (const auto& c : components) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

SingleFileCheckpoint load_single_file(const std::string& path, const std::string& config_from) {
  SingleFileCheckpoint result;
  result.path = path;
  result.file = SafetensorsFile::open(path);
  const auto names = result.file->names();

  std::vector<std::string> unet_keys;
  std::map<std::string, std::string> clip_l, open_clip;  // stripped key -> full key
  std::vector<std::string> vae_keys;
  static const std::regex kEmbedder(R"(^conditioner\.embedders\.(\d+)\.(transformer|model)\.(.*)$)");
  for (const auto& name : names) {
    std::smatch m;
    if (starts_with(name, "cond_stage_model.transformer.")) {
      fail(path, "is a Stable Diffusion 1.x checkpoint; this engine runs SDXL (base, refiner, inpaint) only");
    } else if (starts_with(name, "cond_stage_model.model.")) {
      fail(path, "is a Stable Diffusion 2.x checkpoint; this engine runs SDXL (base, refiner, inpaint) only");
    } else if (starts_with(name, kUnetPrefix)) {
      unet_keys.push_back(name.substr(kUnetPrefix.size()));
    } else if (starts_with(name, kVaePrefix)) {
      vae_keys.push_back(name.substr(kVaePrefix.size()));
    } else if (std::regex_match(name, m, kEmbedder)) {
      (m[2] == "transformer" ? clip_l : open_clip)[m[3]] = name;
    } else if (!is_known_unused_key(name)) {
      result.unmapped_keys.push_back(name);
    }
  }
  if (unet_keys.empty()) {
    fail(path, "has no model.diffusion_model.* tensors: not an original-format SDXL checkpoint "
               "(a diffusers folder, a LoRA or a VAE-only file?)");
  }

  // UNet
  ConvertedComponent unet{"unet", {}, {}, {}};
  const auto layout = infer_unet_layout(unet_keys);
  const UnetKeyMap unet_map(layout);
  for (const auto& key : unet_keys) {
    if (auto mapped = unet_map.map(key)) {
      add_converted(unet.tensors, *mapped, result.file->tensor(kUnetPrefix + key));
    } else {
      result.unmapped_keys.push_back(kUnetPrefix + key);
    }
  }
  const auto in_channels = dim_of(unet.tensors, "conv_in.weight", 1, path);
  if (clip_l.empty() && !open_clip.empty()) {
    result.kind = CheckpointKind::kSdxlRefiner;
  } else if (in_channels == 9) {
    result.kind = CheckpointKind::kSdxlInpaint;
  } else if (in_channels == 4) {
    result.kind = CheckpointKind::kSdxlBase;
  } else {
    fail(path, "UNet takes " + std::to_string(in_channels) + " input channels; SDXL base/refiner take 4, inpaint 9");
  }

  // Text encoders
  std::int64_t pooled_dim = 0;
  if (!clip_l.empty()) {
    ConvertedComponent te{"text_encoder", {}, {}, {}};
    for (const auto& [key, full] : clip_l) {
      if (key == "text_model.embeddings.position_ids") continue;
      te.tensors.emplace_back(key, result.file->tensor(full));
    }
    te.config = text_config(te.tensors, false, te.assumed, path);
    result.components.push_back(std::move(te));
  }
  if (!open_clip.empty()) {
    ConvertedComponent te2{"text_encoder_2", {}, {}, {}};
    for (const auto& [key, full] : open_clip) {
      if (auto mapped = map_open_clip_key(key)) {
        add_converted(te2.tensors, *mapped, result.file->tensor(full));
      } else if (!is_known_unused_key(full)) {
        result.unmapped_keys.push_back(full);
      }
    }
    te2.config = text_config(te2.tensors, true, te2.assumed, path);
    pooled_dim = te2.config["projection_dim"].get<std::int64_t>();
    result.components.push_back(std::move(te2));
  } else {
    pooled_dim = 1280;  // SDXL's OpenCLIP bigG projection, for UNet-only files
  }
  unet.config = unet_config(unet.tensors, layout, result.kind, pooled_dim, unet.assumed, path);
  result.components.insert(result.components.begin(), std::move(unet));

  // VAE
  if (!vae_keys.empty()) {
    ConvertedComponent vae{"vae", {}, {}, {}};
    std::set<int> levels;
    for (const auto& key : vae_keys) {
      if (starts_with(key, "encoder.down.")) levels.insert(std::stoi(key.substr(13)));
    }
    for (const auto& key : vae_keys) {
      if (auto mapped = map_vae_key(key, static_cast<int>(levels.size()))) {
        add_converted(vae.tensors, *mapped, result.file->tensor(kVaePrefix + key));
      } else if (!is_known_unused_key(kVaePrefix + key)) {
        result.unmapped_keys.push_back(kVaePrefix + key);
      }
    }
    vae.config = vae_config(vae.tensors, vae.assumed, path);
    result.components.insert(result.components.begin() + 1, std::move(vae));
  }

  if (!config_from.empty()) {
    if (!std::filesystem::is_directory(config_from)) fail(config_from, "config_from is not a folder");
    for (auto& component : result.components) {
      apply_config_from(component, std::filesystem::path(config_from) / component.name / "config.json", path);
    }
  }
  return result;
}

ConvertedComponent load_single_file_controlnet(const SafetensorsFile& file, const std::string& config_file) {
  const std::string path = file.path();
  const auto names = file.names();
  // The original (ControlNet 1.1 / sd-scripts) layout is "control_model.<UNet encoder key>", plus
  // input_hint_block, zero_convs and middle_block_out; some files drop the prefix. A diffusers
  // state dict saved as one file is taken by name as it is.
  const bool diffusers = std::any_of(names.begin(), names.end(),
                                     [](const std::string& n) { return starts_with(n, "controlnet_cond_embedding."); });
  const std::string prefix =
      std::any_of(names.begin(), names.end(), [](const std::string& n) { return starts_with(n, "control_model."); })
          ? "control_model."
          : "";
  ConvertedComponent net{"controlnet", {}, {}, {}};
  std::vector<std::string> unet_keys, unmapped;
  for (const auto& name : names) {
    if (diffusers) {
      net.tensors.emplace_back(name, file.tensor(name));
    } else if (starts_with(name, prefix)) {
      unet_keys.push_back(name.substr(prefix.size()));
    } else {
      unmapped.push_back(name);
    }
  }
  if (!diffusers) {
    if (unet_keys.empty()) fail(path, "has no ControlNet tensors (control_model.* or controlnet_cond_embedding.*)");
    static const std::regex kHint(R"(^input_hint_block\.(\d+)\.(weight|bias)$)");
    static const std::regex kZero(R"(^zero_convs\.(\d+)\.0\.(weight|bias)$)");
    // First the hint convs' indices and the UNet encoder's own keys (which set the layout).
    std::set<int> hint_convs;
    std::vector<std::string> encoder_keys;
    for (const auto& key : unet_keys) {
      std::smatch m;
      if (std::regex_match(key, m, kHint)) {
        hint_convs.insert(std::stoi(m[1]));
      } else if (!starts_with(key, "input_hint_block.") && !starts_with(key, "zero_convs.") &&
                 !starts_with(key, "middle_block_out.")) {
        encoder_keys.push_back(key);
      }
    }
    const UnetKeyMap map(infer_unet_layout(encoder_keys));
    const std::vector<int> hints(hint_convs.begin(), hint_convs.end());
    for (const auto& key : unet_keys) {
      const auto tensor = file.tensor(prefix + key);
      std::smatch m;
      if (std::regex_match(key, m, kHint)) {
        // Convs in order: conv_in, blocks.0 .. blocks.n-3, conv_out (the SiLUs between take indices).
        const auto position = std::find(hints.begin(), hints.end(), std::stoi(m[1])) - hints.begin();
        const std::string target = position == 0 ? "conv_in"
                                   : position + 1 == static_cast<long>(hints.size())
                                       ? "conv_out"
                                       : "blocks." + std::to_string(position - 1);
        net.tensors.emplace_back("controlnet_cond_embedding." + target + "." + m[2].str(), tensor);
      } else if (std::regex_match(key, m, kZero)) {
        net.tensors.emplace_back("controlnet_down_blocks." + m[1].str() + "." + m[2].str(), tensor);
      } else if (starts_with(key, "middle_block_out.0.")) {
        net.tensors.emplace_back("controlnet_mid_block." + key.substr(19), tensor);
      } else if (auto mapped = map.map(key)) {
        add_converted(net.tensors, *mapped, tensor);
      } else {
        unmapped.push_back(prefix + key);
      }
    }
  }
  if (!unmapped.empty()) {
    fail(path, std::to_string(unmapped.size()) + " tensors are not part of an SDXL ControlNet (first: " +
                   unmapped.front() + "); is this a ControlNet for SD 1.5, a T2I adapter or a control LoRA?");
  }
  std::vector<std::string> diffusers_names;
  for (const auto& [name, t] : net.tensors) diffusers_names.push_back(name);
  const auto layout = unet_layout_of(diffusers_names);
  if (layout.levels == 0) fail(path, "has no down blocks: not a ControlNet");
  net.config = unet_config(net.tensors, layout, CheckpointKind::kSdxlBase, 1280, net.assumed, path);
  net.config["_class_name"] = "ControlNetModel";
  net.config.erase("up_block_types");
  net.config["conditioning_channels"] = dim_of(net.tensors, "controlnet_cond_embedding.conv_in.weight", 1, path);
  nlohmann::json embedding = {dim_of(net.tensors, "controlnet_cond_embedding.conv_in.weight", 0, path)};
  for (int i = 1; find_tensor(net.tensors, "controlnet_cond_embedding.blocks." + std::to_string(i) + ".weight"); i += 2) {
    embedding.push_back(dim_of(net.tensors, "controlnet_cond_embedding.blocks." + std::to_string(i) + ".weight", 0, path));
  }
  net.config["conditioning_embedding_out_channels"] = embedding;
  net.config["controlnet_conditioning_channel_order"] = "rgb";
  net.config["global_pool_conditions"] = false;
  if (!config_file.empty()) apply_config_from(net, config_file, path);
  return net;
}

}  // namespace workers
