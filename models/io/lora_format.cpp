#include "models/io/lora_format.h"

#include <algorithm>
#include <cmath>
#include <regex>
#include <utility>

#include <torch/torch.h>

#include "models/io/safetensors_file.h"
#include "utilities/error.h"
#include "utilities/strings.h"

namespace workers {
namespace {

// Part suffixes, longest first where one ends another; the value is the canonical part name.
const std::vector<std::pair<std::string, std::string>> kParts = {
    {".lora_down.weight", "lora_down.weight"}, {".lora_up.weight", "lora_up.weight"},
    {".lora_mid.weight", "lora_mid.weight"},   {".lora_A.weight", "lora_down.weight"},
    {".lora_B.weight", "lora_up.weight"},      {".lora.down.weight", "lora_down.weight"},
    {".lora.up.weight", "lora_up.weight"},     {".lora_linear_layer.down.weight", "lora_down.weight"},
    {".lora_linear_layer.up.weight", "lora_up.weight"},
    {".alpha", "alpha"},
    {".hada_w1_a", "hada_w1_a"}, {".hada_w1_b", "hada_w1_b"}, {".hada_w2_a", "hada_w2_a"},
    {".hada_w2_b", "hada_w2_b"}, {".hada_t1", "hada_t1"},     {".hada_t2", "hada_t2"},
    {".lokr_w1_a", "lokr_w1_a"}, {".lokr_w1_b", "lokr_w1_b"}, {".lokr_w2_a", "lokr_w2_a"},
    {".lokr_w2_b", "lokr_w2_b"}, {".lokr_w1", "lokr_w1"},     {".lokr_w2", "lokr_w2"},
    {".lokr_t2", "lokr_t2"},
    // Read only to be refused: applying DoRA without its magnitude would be a different model.
    {".dora_scale", "dora_scale"}, {".lora_magnitude_vector.weight", "dora_scale"},
    {".lora_magnitude_vector", "dora_scale"},
};

// Module name and part of one key; nullopt: not a part this reader knows.
std::optional<std::pair<std::string, std::string>> split_key(const std::string& key) {
  // Old diffusers attention processors: <attn>.processor.to_q_lora.down.weight -> <attn>.to_q.
  static const std::regex kProcessor(R"(^(.*)\.processor\.(to_q|to_k|to_v|to_out)_lora\.(down|up)\.weight$)");
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

at::Tensor part(const LoraModule& m, const std::string& name, c10::Device device) {
  return m.parts.at(name).to(device, torch::kFloat);
}

bool has(const LoraModule& m, const std::string& name) { return m.parts.count(name) > 0; }

// The module's own scale: alpha / rank, or 1 when the file has no alpha.
double alpha_scale(const LoraModule& m, std::int64_t rank) {
  return m.alpha ? *m.alpha / static_cast<double>(rank) : 1.0;
}

std::string shape_text(c10::IntArrayRef shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

[[noreturn]] void shape_mismatch(const LoraModule& m, c10::IntArrayRef target, const at::Tensor& delta,
                                 const std::string& field) {
  throw_invalid(field, "is not for this model: " + m.name + " makes a weight change of shape " +
                           shape_text(delta.sizes()) + " for a weight of shape " + shape_text(target) +
                           " (a LoRA made for another base model, e.g. SD 1.5?)");
}

// ΔW of a rank-decomposed pair (the two halves, through a tucker core when given).
at::Tensor low_rank(const at::Tensor& up, const at::Tensor& down, const at::Tensor& core) {
  if (core.defined()) return torch::einsum("oi,ijkl,jc->ockl", {up.flatten(1), core, down.flatten(1)});
  return up.flatten(1).mm(down.flatten(1));
}

at::Tensor lora(const LoraModule& m, c10::Device device) {
  const auto down = part(m, "lora_down.weight", device);
  const auto up = part(m, "lora_up.weight", device);
  const auto mid = has(m, "lora_mid.weight") ? part(m, "lora_mid.weight", device) : at::Tensor();
  return low_rank(up, down, mid) * alpha_scale(m, down.size(0));
}

// One Hadamard factor: a·b, or LyCORIS' tucker form einsum("i j k l, j r, i p -> p r k l").
at::Tensor hada_factor(const LoraModule& m, const std::string& n, c10::Device device) {
  const auto a = part(m, "hada_w" + n + "_a", device);
  const auto b = part(m, "hada_w" + n + "_b", device);
  if (has(m, "hada_t" + n)) return torch::einsum("ijkl,jr,ip->prkl", {part(m, "hada_t" + n, device), b, a});
  return a.mm(b.flatten(1));
}

at::Tensor loha(const LoraModule& m, c10::Device device) {
  return hada_factor(m, "1", device) * hada_factor(m, "2", device) * alpha_scale(m, m.parts.at("hada_w1_b").size(0));
}

at::Tensor lokr(const LoraModule& m, c10::IntArrayRef shape, c10::Device device) {
  const auto w1 = has(m, "lokr_w1") ? part(m, "lokr_w1", device)
                                    : part(m, "lokr_w1_a", device).mm(part(m, "lokr_w1_b", device));
  at::Tensor w2;
  if (has(m, "lokr_w2")) {
    w2 = part(m, "lokr_w2", device);
  } else if (has(m, "lokr_t2")) {
    w2 = torch::einsum("ijkl,ip,jr->prkl",
                       {part(m, "lokr_t2", device), part(m, "lokr_w2_a", device), part(m, "lokr_w2_b", device)});
  } else {
    w2 = part(m, "lokr_w2_a", device).mm(part(m, "lokr_w2_b", device).flatten(1));
  }
  at::Tensor delta;
  if (shape.size() == 4) {  // conv: w1 [a, c] spreads w2 [b, d, k, k] over [a·b, c·d, k, k]
    if (w2.dim() == 2 && w1.size(0) > 0 && w1.size(1) > 0 && shape[0] % w1.size(0) == 0 && shape[1] % w1.size(1) == 0) {
      w2 = w2.reshape({shape[0] / w1.size(0), shape[1] / w1.size(1), shape[2], shape[3]});
    }
    delta = torch::kron(w1.unsqueeze(-1).unsqueeze(-1), w2);
  } else {
    delta = torch::kron(w1, w2.flatten(1));
  }
  // alpha/dim applies only when a factor is itself factorised (LyCORIS: full matrices mean scale 1).
  if (!has(m, "lokr_w1_b") && !has(m, "lokr_w2_b")) return delta;
  return delta * alpha_scale(m, (has(m, "lokr_w2_b") ? m.parts.at("lokr_w2_b") : m.parts.at("lokr_w1_b")).size(0));
}

}  // namespace

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
  std::map<std::string, std::size_t> index;  // module name -> position in adapter.modules
  for (const auto& key : file->names()) {
    const auto split = split_key(key);
    if (!split) {
      adapter.unknown_keys.push_back(key);
      continue;
    }
    const auto& [raw_name, part_name] = *split;
    const std::string name = normalise_name(raw_name);
    if (part_name == "dora_scale") {
      throw_invalid(field, "is a DoRA adapter (" + key + "); DoRA's weight decomposition is not supported, "
                           "and applying its low-rank part alone would not be the adapter its author trained");
    }
    auto [it, inserted] = index.emplace(name, adapter.modules.size());
    if (inserted) adapter.modules.push_back(LoraModule{name, LoraKind::kLora, {}, std::nullopt, {}});
    auto& module = adapter.modules[it->second];
    module.keys.push_back(key);
    const auto tensor = file->tensor(key).clone();  // owned: the file may change on disk later
    adapter.bytes += tensor.nbytes();
    if (part_name == "alpha") {
      if (tensor.numel() != 1) {
        throw_invalid(field, key + " must hold one number (the module's alpha)");
      }
      module.alpha = tensor.to(torch::kDouble).item<double>();
      if (!std::isfinite(*module.alpha)) throw_invalid(field, key + " is not a finite number");
      continue;
    }
    if (starts_with(part_name, "hada_")) module.kind = LoraKind::kLoha;
    if (starts_with(part_name, "lokr_")) module.kind = LoraKind::kLokr;
    module.parts[part_name] = tensor;
  }
  for (const auto& m : adapter.modules) {
    if (m.parts.empty()) {  // an alpha alone
      for (const auto& key : m.keys) adapter.unknown_keys.push_back(key);
    }
  }
  adapter.modules.erase(std::remove_if(adapter.modules.begin(), adapter.modules.end(),
                                       [](const LoraModule& m) { return m.parts.empty(); }),
                        adapter.modules.end());
  return adapter;
}

void add_lora_delta(at::Tensor& target, const LoraModule& module, double weight, const std::string& field) {
  if (module.kind != LoraKind::kLora || has(module, "lora_mid.weight") || !target.is_contiguous()) {
    target.add_(lora_delta(module, target.sizes(), target.device(), field), weight);
    return;
  }
  const auto down = part(module, "lora_down.weight", target.device()).flatten(1);
  const auto up = part(module, "lora_up.weight", target.device()).flatten(1);
  const double scale = alpha_scale(module, down.size(0));
  auto matrix = target.view({target.size(0), -1});
  if (up.size(0) != matrix.size(0) || down.size(1) != matrix.size(1) || up.size(1) != down.size(0)) {
    shape_mismatch(module, target.sizes(), torch::empty({up.size(0), down.size(1)}), field);
  }
  matrix.addmm_(up, down, /*beta=*/1.0, /*alpha=*/weight * scale);
}

at::Tensor lora_delta(const LoraModule& module, c10::IntArrayRef shape, c10::Device device, const std::string& field) {
  at::Tensor delta;
  try {
    switch (module.kind) {
      case LoraKind::kLora:
        delta = lora(module, device);
        break;
      case LoraKind::kLoha:
        delta = loha(module, device);
        break;
      case LoraKind::kLokr:
        delta = lokr(module, shape, device);
        break;
    }
  } catch (const c10::Error& e) {
    throw_invalid(field, "module " + module.name + " has factors whose shapes do not multiply: " +
                             std::string(e.what_without_backtrace()).substr(0, 200));
  }
  std::int64_t numel = 1;
  for (auto d : shape) numel *= d;
  if (delta.numel() != numel || delta.size(0) != shape[0]) shape_mismatch(module, shape, delta, field);
  return delta.reshape(shape);
}

}  // namespace workers
