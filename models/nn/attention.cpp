#include "models/nn/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include <torch/torch.h>
#include <torch/version.h>  // TORCH_VERSION_MAJOR picks the kernel below

namespace workers {
namespace {

// [B, N, H*D] -> [B, H, N, D]
at::Tensor split_heads(const at::Tensor& x, std::int64_t heads) {
  return x.view({x.size(0), x.size(1), heads, x.size(2) / heads}).transpose(1, 2);
}

at::Tensor causal_bias(std::int64_t nq, std::int64_t nk, const at::TensorOptions& options) {
  return torch::full({nq, nk}, -std::numeric_limits<float>::infinity(), options).triu(1);
}

// softmax(q k^T * scale + bias) v on [S, N, D] slices, as diffusers' AttnProcessor (torch 1.x).
at::Tensor plain_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const AttentionOptions& o) {
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  const bool upcast = o.upcast && q.scalar_type() != at::kFloat && q.scalar_type() != at::kDouble;
  auto qs = upcast ? q.to(at::kFloat) : q;
  auto ks = upcast ? k.to(at::kFloat) : k;
  auto scores = at::matmul(qs, ks.transpose(-1, -2)).mul_(scale);
  if (o.causal) scores.add_(causal_bias(q.size(-2), k.size(-2), scores.options()));
  auto probs = scores.softmax(-1).to(v.scalar_type());
  return at::matmul(probs, v);
}

at::Tensor fused_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const AttentionOptions& o) {
#if TORCH_VERSION_MAJOR >= 2
  const bool upcast = o.upcast && q.scalar_type() != at::kFloat && q.scalar_type() != at::kDouble;
  if (upcast) {
    return at::scaled_dot_product_attention(q.to(at::kFloat), k.to(at::kFloat), v.to(at::kFloat), {}, 0.0, o.causal)
        .to(v.scalar_type());
  }
  return at::scaled_dot_product_attention(q, k, v, {}, 0.0, o.causal);
#else
  return plain_attention(q, k, v, o);
#endif
}

}  // namespace

at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, std::int64_t heads,
                     const AttentionOptions& options) {
  const auto batch = q.size(0);
  const auto nq = q.size(1);
  const auto channels = q.size(2);
  auto q4 = split_heads(q, heads);
  auto k4 = split_heads(k, heads);
  auto v4 = split_heads(v, heads);
  at::Tensor out;
  if (options.slice_size <= 0 || options.slice_size >= batch * heads) {
    out = fused_attention(q4, k4, v4, options);
  } else {
    const auto d = channels / heads;
    auto q3 = q4.reshape({batch * heads, nq, d});
    auto k3 = k4.reshape({batch * heads, k.size(1), d});
    auto v3 = v4.reshape({batch * heads, v.size(1), d});
    out = torch::empty_like(q3);
    for (std::int64_t s = 0; s < batch * heads; s += options.slice_size) {
      const auto e = std::min(s + options.slice_size, batch * heads);
      out.slice(0, s, e).copy_(fused_attention(q3.slice(0, s, e), k3.slice(0, s, e), v3.slice(0, s, e), options));
    }
    out = out.view({batch, heads, nq, d});
  }
  return out.transpose(1, 2).reshape({batch, nq, channels});
}

}  // namespace workers
