#include "models/io/sgm_key_map.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <regex>
#include <set>
#include <utility>

#include "utilities/error.h"

namespace workers {
namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;

// ResBlock inner names, SGM -> diffusers (UNet).
const Pairs kUnetResnet = {
    {"in_layers.0.", "norm1."},      {"in_layers.2.", "conv1."},  {"emb_layers.1.", "time_emb_proj."},
    {"out_layers.0.", "norm2."},     {"out_layers.3.", "conv2."}, {"skip_connection.", "conv_shortcut."},
};

// VAE inner names, SGM -> diffusers.
const Pairs kVaeResnet = {{"nin_shortcut.", "conv_shortcut."}};
const Pairs kVaeAttention = {
    {"norm.", "group_norm."}, {"q.", "to_q."}, {"k.", "to_k."}, {"v.", "to_v."}, {"proj_out.", "to_out.0."},
};

// OpenCLIP residual block inner names -> CLIPEncoderLayer.
const Pairs kOpenClipLayer = {
    {"ln_1.", "layer_norm1."}, {"ln_2.", "layer_norm2."}, {"mlp.c_fc.", "mlp.fc1."},
    {"mlp.c_proj.", "mlp.fc2."}, {"attn.out_proj.", "self_attn.out_proj."},
};

std::string rename_inner(const std::string& rest, const Pairs& table) {
  for (const auto& [from, to] : table) {
    if (rest.rfind(from, 0) == 0) return to + rest.substr(from.size());
  }
  return rest;
}

std::string num(int i) { return std::to_string(i); }

struct PrefixRule {
  std::string sgm;
  std::string diffusers;
  const Pairs* inner = nullptr;  // renames applied to what follows the prefix
};

std::vector<PrefixRule> unet_rules(const UnetLayout& l) {
  std::vector<PrefixRule> r = {
      {"time_embed.0.", "time_embedding.linear_1."}, {"time_embed.2.", "time_embedding.linear_2."},
      {"label_emb.0.0.", "add_embedding.linear_1."}, {"label_emb.0.2.", "add_embedding.linear_2."},
      {"input_blocks.0.0.", "conv_in."},             {"out.0.", "conv_norm_out."},
      {"out.2.", "conv_out."},
  };
  int index = 1;
  for (int level = 0; level < l.levels; ++level) {
    for (int j = 0; j < l.layers_per_block; ++j, ++index) {
      const std::string down = "down_blocks." + num(level);
      r.push_back({"input_blocks." + num(index) + ".0.", down + ".resnets." + num(j) + ".", &kUnetResnet});
      if (l.attention[level]) r.push_back({"input_blocks." + num(index) + ".1.", down + ".attentions." + num(j) + "."});
    }
    if (level < l.levels - 1) {
      r.push_back({"input_blocks." + num(index) + ".0.op.", "down_blocks." + num(level) + ".downsamplers.0.conv."});
      ++index;
    }
  }
  r.push_back({"middle_block.0.", "mid_block.resnets.0.", &kUnetResnet});
  if (l.mid_attention) {
    r.push_back({"middle_block.1.", "mid_block.attentions.0."});
    r.push_back({"middle_block.2.", "mid_block.resnets.1.", &kUnetResnet});
  } else {
    r.push_back({"middle_block.1.", "mid_block.resnets.1.", &kUnetResnet});
  }
  index = 0;
  for (int up = 0; up < l.levels; ++up) {
    const bool attention = l.attention[l.levels - 1 - up];
    const std::string block = "up_blocks." + num(up);
    for (int j = 0; j <= l.layers_per_block; ++j, ++index) {
      const std::string out = "output_blocks." + num(index) + ".";
      r.push_back({out + "0.", block + ".resnets." + num(j) + ".", &kUnetResnet});
      if (attention) r.push_back({out + "1.", block + ".attentions." + num(j) + "."});
      if (j == l.layers_per_block && up < l.levels - 1) {
        r.push_back({out + (attention ? "2" : "1") + ".conv.", block + ".upsamplers.0.conv."});
      }
    }
  }
  return r;
}

int leading_index(const std::string& text, std::size_t at, std::size_t* end) {
  std::size_t i = at;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  if (i == at || i >= text.size() || text[i] != '.') return -1;
  *end = i + 1;
  return std::stoi(text.substr(at, i - at));
}

}  // namespace

UnetLayout infer_unet_layout(const std::vector<std::string>& keys) {
  // input_blocks.<i>.<k>.* : what each block index holds.
  std::map<int, std::set<std::string>> blocks;
  bool mid_attention = false;
  for (const auto& key : keys) {
    const std::string prefix = "input_blocks.";
    if (key.rfind(prefix, 0) == 0) {
      std::size_t after = 0;
      int index = leading_index(key, prefix.size(), &after);
      if (index <= 0) continue;
      blocks[index].insert(key.substr(after, key.find('.', key.find('.', after) + 1) - after));
    }
    if (key.rfind("middle_block.1.transformer_blocks.", 0) == 0 || key.rfind("middle_block.1.proj_in.", 0) == 0) {
      mid_attention = true;
    }
  }
  if (blocks.empty()) throw Error(ErrorCode::kModelLoadError, "UNet has no input_blocks: not an SGM UNet");
  UnetLayout layout;
  layout.mid_attention = mid_attention;
  int resnets = 0;
  bool attention = false;
  auto close_level = [&] {
    if (layout.levels == 0) {
      layout.layers_per_block = resnets;
    } else if (resnets != layout.layers_per_block) {
      throw Error(ErrorCode::kModelLoadError, "UNet levels have different numbers of ResNet blocks (" +
                                                  std::to_string(layout.layers_per_block) + " and " +
                                                  std::to_string(resnets) + "): unsupported layout");
    }
    layout.attention.push_back(attention);
    ++layout.levels;
    resnets = 0;
    attention = false;
  };
  int expected = 1;
  for (const auto& [index, parts] : blocks) {
    if (index != expected++) throw Error(ErrorCode::kModelLoadError, "UNet input_blocks are not numbered 1..N");
    if (parts.count("0.op")) {
      close_level();
    } else {
      ++resnets;
      for (const auto& p : parts) attention = attention || p.rfind("1.", 0) == 0;
    }
  }
  close_level();
  if (layout.layers_per_block == 0) throw Error(ErrorCode::kModelLoadError, "UNet levels hold no ResNet blocks");
  return layout;
}

struct UnetKeyMap::Rule : PrefixRule {};

UnetKeyMap::UnetKeyMap(const UnetLayout& layout) {
  for (auto& rule : unet_rules(layout)) rules_.push_back(Rule{std::move(rule)});
}

UnetKeyMap::~UnetKeyMap() = default;

std::optional<MappedKey> UnetKeyMap::map(const std::string& key) const {
  const Rule* best = nullptr;
  for (const auto& rule : rules_) {
    if (key.rfind(rule.sgm, 0) == 0 && (!best || rule.sgm.size() > best->sgm.size())) best = &rule;
  }
  if (!best) return std::nullopt;
  std::string rest = key.substr(best->sgm.size());
  if (best->inner) rest = rename_inner(rest, *best->inner);
  return MappedKey{best->diffusers + rest, KeyTransform::kNone};
}

std::optional<std::string> UnetKeyMap::to_sgm(const std::string& key) const {
  const Rule* best = nullptr;
  for (const auto& rule : rules_) {
    if (key.rfind(rule.diffusers, 0) == 0 && (!best || rule.diffusers.size() > best->diffusers.size())) best = &rule;
  }
  if (!best) return std::nullopt;
  std::string rest = key.substr(best->diffusers.size());
  if (best->inner) {
    for (const auto& [from, to] : *best->inner) {
      if (rest.rfind(to, 0) == 0) {
        rest = from + rest.substr(to.size());
        break;
      }
    }
  }
  return best->sgm + rest;
}

UnetLayout unet_layout_of(const std::vector<std::string>& names) {
  std::map<int, std::set<int>> resnets;  // level -> resnet indices
  std::set<int> attention_levels;
  UnetLayout layout;
  for (const auto& name : names) {
    const std::string down = "down_blocks.";
    if (name.rfind("mid_block.attentions.", 0) == 0) layout.mid_attention = true;
    if (name.rfind(down, 0) != 0) continue;
    std::size_t after = 0;
    const int level = leading_index(name, down.size(), &after);
    if (level < 0) continue;
    const std::string rest = name.substr(after);
    std::size_t after_resnet = 0;
    if (rest.rfind("resnets.", 0) == 0) resnets[level].insert(leading_index(rest, 8, &after_resnet));
    if (rest.rfind("attentions.", 0) == 0) attention_levels.insert(level);
  }
  layout.levels = static_cast<int>(resnets.size());
  layout.layers_per_block = resnets.empty() ? 0 : static_cast<int>(resnets.begin()->second.size());
  for (int level = 0; level < layout.levels; ++level) layout.attention.push_back(attention_levels.count(level) > 0);
  return layout;
}

std::optional<MappedKey> map_vae_key(const std::string& key, int levels) {
  for (const std::string side : {"encoder.", "decoder."}) {
    if (key.rfind(side, 0) != 0) continue;
    std::string rest = key.substr(side.size());
    if (rest.rfind("norm_out.", 0) == 0) return MappedKey{side + "conv_norm_out." + rest.substr(9)};
    if (rest.rfind("conv_in.", 0) == 0 || rest.rfind("conv_out.", 0) == 0) return MappedKey{key};
    if (rest.rfind("mid.block_1.", 0) == 0) return MappedKey{side + "mid_block.resnets.0." + rename_inner(rest.substr(12), kVaeResnet)};
    if (rest.rfind("mid.block_2.", 0) == 0) return MappedKey{side + "mid_block.resnets.1." + rename_inner(rest.substr(12), kVaeResnet)};
    if (rest.rfind("mid.attn_1.", 0) == 0) {
      std::string inner = rename_inner(rest.substr(11), kVaeAttention);
      const bool weight = inner.size() > 7 && inner.compare(inner.size() - 7, 7, ".weight") == 0;
      const bool projection = inner.rfind("group_norm.", 0) != 0;
      return MappedKey{side + "mid_block.attentions.0." + inner,
                       weight && projection ? KeyTransform::kConv1x1ToLinear : KeyTransform::kNone};
    }
    const std::string block = side == "encoder." ? "down." : "up.";
    if (rest.rfind(block, 0) == 0) {
      std::size_t after = 0;
      int level = leading_index(rest, block.size(), &after);
      if (level < 0 || level >= levels) return std::nullopt;
      const int target = side == "encoder." ? level : levels - 1 - level;
      const std::string diffusers = side + (side == "encoder." ? "down_blocks." : "up_blocks.") + num(target) + ".";
      std::string tail = rest.substr(after);
      if (tail.rfind("block.", 0) == 0) {
        std::size_t after_block = 0;
        int j = leading_index(tail, 6, &after_block);
        if (j < 0) return std::nullopt;
        return MappedKey{diffusers + "resnets." + num(j) + "." + rename_inner(tail.substr(after_block), kVaeResnet)};
      }
      if (tail.rfind("downsample.conv.", 0) == 0) return MappedKey{diffusers + "downsamplers.0.conv." + tail.substr(16)};
      if (tail.rfind("upsample.conv.", 0) == 0) return MappedKey{diffusers + "upsamplers.0.conv." + tail.substr(14)};
    }
    return std::nullopt;
  }
  if (key.rfind("quant_conv.", 0) == 0 || key.rfind("post_quant_conv.", 0) == 0) return MappedKey{key};
  return std::nullopt;
}

std::optional<MappedKey> map_open_clip_key(const std::string& key) {
  if (key == "token_embedding.weight") return MappedKey{"text_model.embeddings.token_embedding.weight"};
  if (key == "positional_embedding") return MappedKey{"text_model.embeddings.position_embedding.weight"};
  if (key.rfind("ln_final.", 0) == 0) return MappedKey{"text_model.final_layer_norm." + key.substr(9)};
  if (key == "text_projection") return MappedKey{"text_projection.weight", KeyTransform::kTranspose};
  const std::string blocks = "transformer.resblocks.";
  if (key.rfind(blocks, 0) == 0) {
    std::size_t after = 0;
    int n = leading_index(key, blocks.size(), &after);
    if (n < 0) return std::nullopt;
    const std::string layer = "text_model.encoder.layers." + num(n) + ".";
    const std::string rest = key.substr(after);
    if (rest == "attn.in_proj_weight") return MappedKey{layer + "self_attn.{}_proj.weight", KeyTransform::kSplitQkv};
    if (rest == "attn.in_proj_bias") return MappedKey{layer + "self_attn.{}_proj.bias", KeyTransform::kSplitQkv};
    const std::string renamed = rename_inner(rest, kOpenClipLayer);
    if (renamed == rest) return std::nullopt;
    return MappedKey{layer + renamed};
  }
  return std::nullopt;
}

bool is_known_unused_key(const std::string& full_key) {
  static const std::regex kUnused(
      R"(^(conditioner\.embedders\.\d+\.model\.logit_scale|conditioner\.embedders\.\d+\.transformer\.text_model\.embeddings\.position_ids|model_ema\..*|first_stage_model\.(loss|model_ema)\..*|denoiser\..*|alphas_cumprod.*|betas|log_one_minus_alphas_cumprod|sqrt_.*|posterior_.*)$)");
  return std::regex_match(full_key, kUnused);
}

}  // namespace workers
