#include "models/io/lora_delta.h"

#include <torch/torch.h>

#include <limits>
#include <vector>

#include "utilities/error.h"

namespace workers {
namespace {

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

[[noreturn]] void shape_mismatch(const LoraModule& m, c10::IntArrayRef target,
                                 c10::IntArrayRef made, const std::string& field) {
  throw_invalid(field, "is not for this model: " + m.name + " (" + lora_kind_name(m.kind) +
                           ") makes a weight change of shape " + shape_text(made) +
                           " for a weight of shape " + shape_text(target) +
                           " (a LoRA made for another base model, e.g. SD 1.5?)");
}

// ΔW of a rank-decomposed pair (the two halves, through a tucker core when given).
at::Tensor low_rank(const at::Tensor& up, const at::Tensor& down, const at::Tensor& core) {
  if (core.defined())
    return torch::einsum("oi,ijkl,jc->ockl", {up.flatten(1), core, down.flatten(1)});
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
  if (has(m, "hada_t" + n))
    return torch::einsum("ijkl,jr,ip->prkl", {part(m, "hada_t" + n, device), b, a});
  return a.mm(b.flatten(1));
}

at::Tensor loha(const LoraModule& m, c10::Device device) {
  return hada_factor(m, "1", device) * hada_factor(m, "2", device) *
         alpha_scale(m, m.parts.at("hada_w1_b").size(0));
}

at::Tensor lokr(const LoraModule& m, c10::IntArrayRef shape, c10::Device device) {
  const auto w1 = has(m, "lokr_w1") ? part(m, "lokr_w1", device)
                                    : part(m, "lokr_w1_a", device).mm(part(m, "lokr_w1_b", device));
  at::Tensor w2;
  if (has(m, "lokr_w2")) {
    w2 = part(m, "lokr_w2", device);
  } else if (has(m, "lokr_t2")) {
    w2 = torch::einsum(
        "ijkl,ip,jr->prkl",
        {part(m, "lokr_t2", device), part(m, "lokr_w2_a", device), part(m, "lokr_w2_b", device)});
  } else {
    w2 = part(m, "lokr_w2_a", device).mm(part(m, "lokr_w2_b", device).flatten(1));
  }
  at::Tensor delta;
  if (shape.size() == 4) {  // conv: w1 [a, c] spreads w2 [b, d, k, k] over [a·b, c·d, k, k]
    if (w2.dim() == 2 && w1.size(0) > 0 && w1.size(1) > 0 && shape[0] % w1.size(0) == 0 &&
        shape[1] % w1.size(1) == 0) {
      w2 = w2.reshape({shape[0] / w1.size(0), shape[1] / w1.size(1), shape[2], shape[3]});
    }
    delta = torch::kron(w1.unsqueeze(-1).unsqueeze(-1), w2);
  } else {
    delta = torch::kron(w1, w2.flatten(1));
  }
  // alpha/dim applies only when a factor is itself factorised (LyCORIS: full matrices mean scale
  // 1).
  if (!has(m, "lokr_w1_b") && !has(m, "lokr_w2_b")) return delta;
  return delta *
         alpha_scale(
             m, (has(m, "lokr_w2_b") ? m.parts.at("lokr_w2_b") : m.parts.at("lokr_w1_b")).size(0));
}

// GLoRA as ComfyUI's comfy/weight_adapter/glora.py computes it (its convention; LyCORIS wrote two
// layouts). With the files' a1, a2, b1, b2 flattened to matrices and W the current weight:
//   new layout (b2 [r, ·], b1 [·, r], a1 [·, r], a2 [r, ·]): ΔW = W·a1·a2 + b1·b2 (conv: a1, a2 act
//     on W's input channels: einsum("o i ..., i j -> o j ...")), rank r = a2's rows;
//   old layout (b2 [·, r], b1 [r, ·], a1 [r, ·], a2 [·, r]): ΔW = b2·b1 + W·a2·a1, r = a1's rows.
// Shapes that fit both are old only when a2 has as many rows as the square W (ComfyUI's test).
// F(W) − W = alpha/r · ΔW.
at::Tensor glora(const LoraModule& m, const at::Tensor& w, const std::string& field) {
  const auto& p = m.parts;
  const auto& a1 = p.at("a1.weight");
  const auto& a2 = p.at("a2.weight");
  const auto& b1 = p.at("b1.weight");
  const auto& b2 = p.at("b2.weight");
  if (a1.dim() < 2 || a2.dim() < 2 || b1.dim() < 2 || b2.dim() < 2) {
    throw_invalid(field, "module " + m.name + " (GLoRA) has a factor that is not a matrix");
  }
  bool old = false;
  std::int64_t rank = 0;
  if (b2.size(1) == b1.size(0) && b1.size(0) == a1.size(0) && a1.size(0) == a2.size(1)) {
    old = true;
    rank = a1.size(0);
  }
  if (b2.size(0) == b1.size(1) && b1.size(1) == a1.size(1) && a1.size(1) == a2.size(0) &&
      !(old && a2.size(0) == w.size(0) && w.dim() >= 2 && w.size(0) == w.size(1))) {
    old = false;
    rank = a2.size(0);
  }
  if (rank == 0)
    throw_invalid(field, "module " + m.name + " (GLoRA): a1, a2, b1 and b2 share no rank");
  const auto d = w.device();
  const auto fa1 = part(m, "a1.weight", d).flatten(1), fa2 = part(m, "a2.weight", d).flatten(1);
  const auto fb1 = part(m, "b1.weight", d).flatten(1), fb2 = part(m, "b2.weight", d).flatten(1);
  at::Tensor delta;
  if (old) {
    delta = (fb2.mm(fb1) + w.flatten(1).mm(fa2).mm(fa1)).reshape(w.sizes());
  } else {
    const auto through_a =
        w.dim() > 2
            ? torch::einsum("oi...,ij->oj...", {torch::einsum("oi...,ij->oj...", {w, fa1}), fa2})
            : w.mm(fa1).mm(fa2);
    delta = through_a.reshape(w.sizes()) + fb1.mm(fb2).reshape(w.sizes());
  }
  return delta * alpha_scale(m, rank);
}

// OFT/BOFT rotations, as ComfyUI's oft.py / boft.py build them from `oft_blocks` B [..., n, n]:
// Q = B − Bᵀ (skew), scaled to norm alpha when alpha > 0 and ‖Q‖_F + 1e-8 > alpha (alpha is the
// constraint here, not a scale; a file without alpha has none), R = (I + Q)(I − Q)⁻¹ (Cayley).
// Strength: W + s · (F(W) − W), linear like every other kind (for OFT, (s·R + (1 − s)·I) applied
// to W, LyCORIS' interpolation). ComfyUI agrees at s = 1 but applies s twice (s² · (R − I)·W for
// OFT; stage-wise interpolation then × s for BOFT), a known quirk (ComfyUI PR #15584).
at::Tensor cayley(const LoraModule& m, const at::Tensor& blocks) {
  auto q = blocks - blocks.transpose(-1, -2);
  const double alpha = m.alpha.value_or(0.0);
  if (alpha > 0) {
    const double norm = q.norm().item<double>() + 1e-8;
    if (norm > alpha) q = q * (alpha / norm);
  }
  const auto eye = torch::eye(blocks.size(-1), blocks.options());
  return torch::matmul(eye + q, torch::inverse(eye - q));
}

// LyCORIS' `rescale` [out, 1, ...] multiplies the rotated weight (BOFT in ComfyUI; OFT there skips
// it, LyCORIS applies it: we do, for both).
at::Tensor rescaled(const LoraModule& m, at::Tensor rotated) {
  if (!has(m, "rescale")) return rotated;
  std::vector<std::int64_t> shape(rotated.dim(), 1);
  shape[0] = rotated.size(0);
  return rotated * part(m, "rescale", rotated.device()).reshape(shape);
}

std::vector<std::int64_t> rows_as(std::vector<std::int64_t> leading, const at::Tensor& w) {
  for (std::int64_t i = 1; i < w.dim(); ++i) leading.push_back(w.size(i));
  return leading;
}

// OFT: the output rows of W in k blocks of n; block j becomes R_jᵀ · W_j, i.e. ComfyUI's
// einsum("k n m, k n ... -> k m ...", R, W.view(k, n, ...)). F(W) = rescale ⊙ that.
at::Tensor oft(const LoraModule& m, const at::Tensor& w, const std::string& field) {
  const auto blocks = part(m, "oft_blocks", w.device());
  const auto k = blocks.size(0), n = blocks.size(1);
  if (w.dim() < 2 || k * n != w.size(0)) shape_mismatch(m, w.sizes(), {k * n}, field);
  const auto r = cayley(m, blocks);
  const auto rotated =
      torch::einsum("knm,kn...->km...", {r, w.reshape(rows_as({k, n}, w))}).reshape(w.sizes());
  return rescaled(m, rotated) - w;
}

// BOFT (butterfly OFT), ComfyUI's boft.py: blocks [stages, k, b, b]. Stage i (g = 2, s = 2^i · b/2)
// permutes W's rows as unflatten(-1, 2, s) → transpose(1, 2) → blocks of b, multiplies block j by
// R_ij (R · x, not Rᵀ as OFT), and permutes back (unflatten(-1, s, 2) → transpose(1, 2)).
at::Tensor boft(const LoraModule& m, const at::Tensor& w, const std::string& field) {
  const auto blocks = part(m, "oft_blocks", w.device());
  const auto stages = blocks.size(0), k = blocks.size(1), b = blocks.size(2);
  const auto rows = w.size(0);
  if (w.dim() < 2 || stages < 1 || k * b != rows || b % 2 != 0 ||
      rows % ((std::int64_t{1} << (stages - 1)) * b) != 0) {
    shape_mismatch(m, w.sizes(), {k * b}, field);
  }
  const auto r = cayley(m, blocks);
  auto x = w;
  for (std::int64_t i = 0; i < stages; ++i) {
    const std::int64_t s = (std::int64_t{1} << i) * (b / 2);
    x = x.reshape(rows_as({rows / (2 * s), 2, s}, w)).transpose(1, 2).reshape(rows_as({k, b}, w));
    x = torch::einsum("bij,bj...->bi...", {r[i], x});
    x = x.reshape(rows_as({rows / (2 * s), s, 2}, w)).transpose(1, 2).reshape(w.sizes());
  }
  return rescaled(m, x) - w;
}

// DoRA as ComfyUI's weight_decompose: V = W + ΔW (ΔW with the module's alpha/rank, not the
// strength), F(W) = m · V / (‖V‖ + ε) with ε = float32 epsilon, the norm taken per output channel
// when the magnitude has one entry per output row (kohya/LyCORIS `wd_on_out`, peft's vector), else
// per input channel (over every other axis, as ComfyUI's transpose(0, 1) form). The strength s then
// gives W + s · (F(W) − W), ComfyUI's rule (s = 1 is F(W) itself). One difference, on purpose:
// ComfyUI's output-axis branch divides by ‖W‖ instead of ‖V‖ (a known bug, ComfyUI PR #15458); we
// divide by ‖V‖, DoRA's definition and LyCORIS'.
at::Tensor dora(const LoraModule& m, const at::Tensor& w, const at::Tensor& delta,
                const std::string& field) {
  if (w.dim() < 2)
    throw_invalid(field, "module " + m.name + " has a DoRA magnitude for a weight of one axis");
  const auto v = w + delta;
  const auto magnitude = part(m, "dora_scale", w.device());
  std::vector<std::int64_t> shape(w.dim(), 1);
  at::Tensor norm;
  if (magnitude.size(0) == w.size(0)) {
    shape[0] = w.size(0);
    norm = v.reshape({w.size(0), -1}).norm(2, {1}).reshape(shape);
  } else {
    shape[1] = w.size(1);
    norm = v.transpose(0, 1).reshape({w.size(1), -1}).norm(2, {1}).reshape(shape);
  }
  if (magnitude.numel() != norm.numel()) {
    throw_invalid(field, "is not for this model: " + m.name + "'s DoRA magnitude has shape " +
                             shape_text(magnitude.sizes()) + " for a weight of shape " +
                             shape_text(w.sizes()));
  }
  norm = norm + std::numeric_limits<float>::epsilon();
  return v * (magnitude.reshape(shape) / norm) - w;
}

// ΔW of the kinds that do not depend on W, before the shape check.
at::Tensor additive(const LoraModule& m, c10::IntArrayRef shape, c10::Device device) {
  switch (m.kind) {
    case LoraKind::kLora:
      return lora(m, device);
    case LoraKind::kLoha:
      return loha(m, device);
    case LoraKind::kLokr:
      return lokr(m, shape, device);
    default:
      return part(m, "diff", device);  // kDiff: the change itself, no scale
  }
}

}  // namespace

at::Tensor lora_delta(const LoraModule& module, const at::Tensor& weight,
                      const std::string& field) {
  const auto shape = weight.sizes();
  at::Tensor delta;
  try {
    switch (module.kind) {
      case LoraKind::kGlora:
        delta = glora(module, weight, field);
        break;
      case LoraKind::kOft:
        delta = oft(module, weight, field);
        break;
      case LoraKind::kBoft:
        delta = boft(module, weight, field);
        break;
      default: {
        delta = additive(module, shape, weight.device());
        std::int64_t numel = 1;
        for (auto d : shape) numel *= d;
        if (delta.numel() != numel || delta.size(0) != shape[0])
          shape_mismatch(module, shape, delta.sizes(), field);
        delta = delta.reshape(shape);
      }
    }
    if (has(module, "dora_scale")) delta = dora(module, weight, delta, field);
  } catch (const c10::Error& e) {
    throw_invalid(field, "module " + module.name + " (" + lora_kind_name(module.kind) +
                             ") has factors whose shapes do not fit: " +
                             std::string(e.what_without_backtrace()).substr(0, 200));
  }
  return delta;
}

void add_lora_delta(at::Tensor& weight, const LoraModule& module, double strength,
                    const std::string& field) {
  const bool plain = module.kind == LoraKind::kLora && !has(module, "lora_mid.weight") &&
                     !has(module, "dora_scale");
  if (!plain || !weight.is_contiguous() || weight.dim() < 2) {
    weight.add_(lora_delta(module, weight, field), strength);
    return;
  }
  const auto down = part(module, "lora_down.weight", weight.device()).flatten(1);
  const auto up = part(module, "lora_up.weight", weight.device()).flatten(1);
  const double scale = alpha_scale(module, down.size(0));
  auto matrix = weight.view({weight.size(0), -1});
  if (up.size(0) != matrix.size(0) || down.size(1) != matrix.size(1) ||
      up.size(1) != down.size(0)) {
    shape_mismatch(module, weight.sizes(), {up.size(0), down.size(1)}, field);
  }
  matrix.addmm_(up, down, /*beta=*/1.0, /*alpha=*/strength * scale);
}

}  // namespace workers
