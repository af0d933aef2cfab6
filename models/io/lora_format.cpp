#include "models/io/lora_format.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <regex>
#include <set>
#include <utility>

#include "models/io/safetensors_file.h"
#include "utilities/error.h"
#include "utilities/strings.h"

namespace workers {
namespace {

// Part suffixes, longest first where one ends another; the value is the canonical part name.
const std::vector<std::pair<std::string, std::string>> kParts = {
    {".lora_down.weight", "lora_down.weight"},
    {".lora_up.weight", "lora_up.weight"},
    {".lora_mid.weight", "lora_mid.weight"},
    {".lora_A.weight", "lora_down.weight"},
    {".lora_B.weight", "lora_up.weight"},
    {".lora_A.default.weight", "lora_down.weight"},
    {".lora_B.default.weight", "lora_up.weight"},
    {".lora_A", "lora_down.weight"},
    {".lora_B", "lora_up.weight"},
    {".lora.down.weight", "lora_down.weight"},
    {".lora.up.weight", "lora_up.weight"},
    {".lora_linear_layer.down.weight", "lora_down.weight"},
    {".lora_linear_layer.up.weight", "lora_up.weight"},
    {".alpha", "alpha"},
    {".hada_w1_a", "hada_w1_a"},
    {".hada_w1_b", "hada_w1_b"},
    {".hada_w2_a", "hada_w2_a"},
    {".hada_w2_b", "hada_w2_b"},
    {".hada_t1", "hada_t1"},
    {".hada_t2", "hada_t2"},
    {".lokr_w1_a", "lokr_w1_a"},
    {".lokr_w1_b", "lokr_w1_b"},
    {".lokr_w2_a", "lokr_w2_a"},
    {".lokr_w2_b", "lokr_w2_b"},
    {".lokr_w1", "lokr_w1"},
    {".lokr_w2", "lokr_w2"},
    {".lokr_t2", "lokr_t2"},
    {".a1.weight", "a1.weight"},
    {".a2.weight", "a2.weight"},
    {".b1.weight", "b1.weight"},
    {".b2.weight", "b2.weight"},
    {".oft_blocks", "oft_blocks"},
    {".rescale", "rescale"},
    // Full differences: `.w_norm` / `.b_norm` are LyCORIS' names for norm layers' weight and bias.
    {".diff_b", "diff_b"},
    {".b_norm", "diff_b"},
    {".diff", "diff"},
    {".w_norm", "diff"},
    // DoRA's magnitude (LyCORIS/kohya `dora_scale`, peft `lora_magnitude_vector`).
    {".dora_scale", "dora_scale"},
    {".lora_magnitude_vector.default.weight", "dora_scale"},
    {".lora_magnitude_vector.weight", "dora_scale"},
    {".lora_magnitude_vector.default", "dora_scale"},
    {".lora_magnitude_vector", "dora_scale"},
};

// Module name and part of one key; nullopt: not a part this reader knows.
std::optional<std::pair<std::string, std::string>> split_key(const std::string& key) {
  // Old diffusers attention processors: <attn>.processor.to_q_lora.down.weight -> <attn>.to_q.
  static const std::regex kProcessor(
      R"(^(.*)\.processor\.(to_q|to_k|to_v|to_out)_lora\.(down|up)\.weight$)");
  std::smatch m;
  if (std::regex_match(key, m, kProcessor)) {
    const std::string target = m[2] == "to_out" ? "to_out.0" : std::string(m[2]);
    return std::make_pair(m[1].str() + "." + target, "lora_" + m[3].str() + ".weight");
  }
  for (const auto& [suffix, part] : kParts) {
    if (ends_with(key, suffix) && key.size() > suffix.size()) {
      return std::make_pair(key.substr(0, key.size() - suffix.size()), part);
    }
  }
  return std::nullopt;
}

// peft's "base_model.model." wrapper and unprefixed UNet paths (unet.save_attn_procs) -> "unet.".
std::string normalise_name(std::string name) {
  if (starts_with(name, "base_model.model.")) name = name.substr(17);
  for (const char* unet_root : {"down_blocks.", "mid_block.", "up_blocks."}) {
    if (starts_with(name, unet_root)) return "unet." + name;
  }
  return name;
}

// The kind a part belongs to; nullopt for the modifiers (alpha, rescale, dora_scale).
std::optional<LoraKind> kind_of(const std::string& part, const at::Tensor& tensor) {
  if (starts_with(part, "lora_")) return LoraKind::kLora;
  if (starts_with(part, "hada_")) return LoraKind::kLoha;
  if (starts_with(part, "lokr_")) return LoraKind::kLokr;
  if (part == "a1.weight" || part == "a2.weight" || part == "b1.weight" || part == "b2.weight")
    return LoraKind::kGlora;
  if (part == "oft_blocks") return tensor.dim() == 4 ? LoraKind::kBoft : LoraKind::kOft;
  if (part == "diff") return LoraKind::kDiff;
  return std::nullopt;
}

bool has(const LoraModule& m, const std::string& name) { return m.parts.count(name) > 0; }

// Sets the module's kind from its parts. false: no part of any kind (modifiers alone).
bool classify(LoraModule& m, const std::string& field) {
  std::set<LoraKind> kinds;
  for (const auto& [name, tensor] : m.parts) {
    if (auto kind = kind_of(name, tensor)) kinds.insert(*kind);
  }
  if (kinds.empty()) return false;
  if (kinds.size() > 1) {
    std::string names;
    for (auto kind : kinds)
      names += std::string(names.empty() ? "" : " and ") + lora_kind_name(kind);
    throw_invalid(field, "module " + m.name + " mixes the parts of " + names + " (" +
                             std::to_string(m.keys.size()) +
                             " keys); which one applies is not defined");
  }
  m.kind = *kinds.begin();
  const bool decomposable =
      m.kind != LoraKind::kOft && m.kind != LoraKind::kBoft && m.kind != LoraKind::kDiff;
  if (has(m, "dora_scale") && !decomposable) {
    throw_invalid(field, "module " + m.name + " puts a DoRA magnitude (dora_scale) on a " +
                             lora_kind_name(m.kind) +
                             " module; DoRA is defined here for LoRA, LoHa, LoKr and GLoRA only");
  }
  return true;
}

}  // namespace

const char* lora_kind_name(LoraKind kind) {
  switch (kind) {
    case LoraKind::kLora:
      return "LoRA";
    case LoraKind::kLoha:
      return "LoHa";
    case LoraKind::kLokr:
      return "LoKr";
    case LoraKind::kGlora:
      return "GLoRA";
    case LoraKind::kOft:
      return "OFT";
    case LoraKind::kBoft:
      return "BOFT";
    case LoraKind::kDiff:
      return "full difference";
  }
  return "?";
}

std::string missing_part(const LoraModule& m) {
  std::vector<std::string> need;
  switch (m.kind) {
    case LoraKind::kLora:
      need = {"lora_down.weight", "lora_up.weight"};
      break;
    case LoraKind::kLoha:
      need = {"hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b"};
      break;
    case LoraKind::kLokr:
      if (!has(m, "lokr_w1")) need = {"lokr_w1_a", "lokr_w1_b"};
      if (!has(m, "lokr_w2")) {
        need.push_back("lokr_w2_a");
        need.push_back("lokr_w2_b");
      }
      break;
    case LoraKind::kGlora:
      need = {"a1.weight", "a2.weight", "b1.weight", "b2.weight"};
      break;
    case LoraKind::kOft:
    case LoraKind::kBoft:
      need = {"oft_blocks"};
      break;
    case LoraKind::kDiff:
      need = {"diff"};
      break;
  }
  for (const auto& n : need) {
    if (!has(m, n)) return n;
  }
  return "";
}

LoraAdapter read_lora_file(const std::string& path, const std::string& field) {
  const auto file = SafetensorsFile::open(path);
  LoraAdapter adapter;
  adapter.path = path;
  std::map<std::string, std::size_t>
      index;  // module name (+ " bias") -> position in adapter.modules
  for (const auto& key : file->names()) {
    const auto split = split_key(key);
    if (!split) {
      adapter.unknown_keys.push_back(key);
      continue;
    }
    const auto& [raw_name, part_name] = *split;
    const std::string name = normalise_name(raw_name);
    const auto tensor = file->tensor(key).clone();  // owned: the file may change on disk later
    if (part_name == "oft_blocks" && tensor.dim() != 3 && tensor.dim() != 4) {
      adapter.unknown_keys.push_back(
          key);  // neither OFT's [blocks, n, n] nor BOFT's [m, blocks, n, n]
      continue;
    }
    // A bias difference is a module of its own: it targets another parameter.
    const bool bias = part_name == "diff_b";
    auto [it, inserted] = index.emplace(bias ? name + " bias" : name, adapter.modules.size());
    if (inserted) {
      LoraModule module{name, bias ? LoraKind::kDiff : LoraKind::kLora, {}, std::nullopt, {}};
      module.bias = bias;
      adapter.modules.push_back(std::move(module));
    }
    auto& module = adapter.modules[it->second];
    module.keys.push_back(key);
    adapter.bytes += tensor.nbytes();
    if (part_name == "alpha") {
      if (tensor.numel() != 1) {
        throw_invalid(field, key + " must hold one number (the module's alpha)");
      }
      module.alpha = tensor.to(torch::kDouble).item<double>();
      if (!std::isfinite(*module.alpha)) throw_invalid(field, key + " is not a finite number");
      continue;
    }
    module.parts[bias ? "diff" : part_name] = tensor;
  }
  std::vector<LoraModule> known;
  for (auto& m : adapter.modules) {
    if (classify(m, field)) {
      known.push_back(std::move(m));
    } else {  // an alpha, a rescale or a magnitude alone
      adapter.unknown_keys.insert(adapter.unknown_keys.end(), m.keys.begin(), m.keys.end());
    }
  }
  adapter.modules = std::move(known);
  return adapter;
}

}  // namespace workers
