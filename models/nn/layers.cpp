#include "models/nn/layers.h"

#include "models/nn/weight_stream.h"
#include <cmath>

namespace workers {
namespace F = torch::nn::functional;

at::Tensor timestep_embedding(const at::Tensor& timesteps, std::int64_t dim, bool flip_sin_to_cos,
                              double downscale_freq_shift, double max_period) {
  const auto half = dim / 2;
  auto exponent = -std::log(max_period) * torch::arange(0, half, torch::dtype(torch::kFloat32).device(timesteps.device()));
  exponent = exponent / (static_cast<double>(half) - downscale_freq_shift);
  auto emb = timesteps.reshape({-1, 1}).to(torch::kFloat32) * exponent.exp().unsqueeze(0);
  emb = flip_sin_to_cos ? torch::cat({emb.cos(), emb.sin()}, -1) : torch::cat({emb.sin(), emb.cos()}, -1);
  if (dim % 2 == 1) emb = F::pad(emb, F::PadFuncOptions({0, 1, 0, 0}));
  return emb;
}

ResnetBlock2DImpl::ResnetBlock2DImpl(const ResnetBlock2DOptions& o) : options(o) {
  using namespace torch::nn;
  norm1 = register_module("norm1", GroupNorm(GroupNormOptions(o.groups, o.in_channels).eps(o.eps)));
  conv1 = register_module("conv1", Conv2d(Conv2dOptions(o.in_channels, o.out_channels, 3).padding(1)));
  if (o.temb_channels > 0) {
    time_emb_proj = register_module("time_emb_proj", Linear(o.temb_channels, o.out_channels));
  }
  norm2 = register_module("norm2", GroupNorm(GroupNormOptions(o.groups, o.out_channels).eps(o.eps)));
  conv2 = register_module("conv2", Conv2d(Conv2dOptions(o.out_channels, o.out_channels, 3).padding(1)));
  if (o.in_channels != o.out_channels) {
    conv_shortcut = register_module("conv_shortcut", Conv2d(Conv2dOptions(o.in_channels, o.out_channels, 1)));
  }
  shrink_if_lean(*this);
}

at::Tensor ResnetBlock2DImpl::forward(const at::Tensor& input, const at::Tensor& temb) {
  const StreamScope stream(this);
  auto h = conv1(torch::silu(norm1(input)));
  if (time_emb_proj && temb.defined()) {
    h = h + time_emb_proj(torch::silu(temb)).unsqueeze(-1).unsqueeze(-1);
  }
  h = conv2(torch::silu(norm2(h)));
  auto shortcut = conv_shortcut ? conv_shortcut(input) : input;
  auto out = shortcut + h;
  return options.output_scale_factor == 1.0 ? out : out / options.output_scale_factor;
}

Downsample2DImpl::Downsample2DImpl(std::int64_t channels, std::int64_t pad) : padding(pad) {
  conv = register_module(
      "conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, channels, 3).stride(2).padding(padding)));
  shrink_if_lean(*this);
}

at::Tensor Downsample2DImpl::forward(const at::Tensor& x) {
  const StreamScope stream(this);
  if (padding == 0) return conv(F::pad(x, F::PadFuncOptions({0, 1, 0, 1})));
  return conv(x);
}

Upsample2DImpl::Upsample2DImpl(std::int64_t channels) {
  conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, channels, 3).padding(1)));
  shrink_if_lean(*this);
}

at::Tensor Upsample2DImpl::forward(const at::Tensor& x, const std::vector<std::int64_t>& size) {
  const StreamScope stream(this);
  // Nearest upsampling has no bf16 CPU kernel in older torch; diffusers upcasts the same way.
  auto input = x.scalar_type() == torch::kBFloat16 ? x.to(torch::kFloat32) : x;
  auto options = F::InterpolateFuncOptions().mode(torch::kNearest);
  if (size.empty()) {
    options.scale_factor(std::vector<double>{2.0, 2.0});
  } else {
    options.size(size);
  }
  auto up = F::interpolate(input, options);
  return conv(up.to(x.scalar_type()));
}

AttentionImpl::AttentionImpl(const AttentionModuleOptions& o) : options(o) {
  using namespace torch::nn;
  kernel.upcast = o.upcast;
  const auto inner = o.heads * o.dim_head;
  const auto context_dim = o.cross_attention_dim > 0 ? o.cross_attention_dim : o.query_dim;
  if (o.norm_groups > 0) {
    group_norm = register_module("group_norm", GroupNorm(GroupNormOptions(o.norm_groups, o.query_dim).eps(o.norm_eps)));
  }
  to_q = register_module("to_q", Linear(LinearOptions(o.query_dim, inner).bias(o.bias)));
  to_k = register_module("to_k", Linear(LinearOptions(context_dim, inner).bias(o.bias)));
  to_v = register_module("to_v", Linear(LinearOptions(context_dim, inner).bias(o.bias)));
  to_out = register_module("to_out", ModuleList(Linear(LinearOptions(inner, o.query_dim).bias(true))));
  shrink_if_lean(*this);
}

at::Tensor AttentionImpl::forward(const at::Tensor& hidden, const at::Tensor& context) {
  const StreamScope stream(this);
  const bool spatial = hidden.dim() == 4;
  auto x = spatial ? hidden.flatten(2).transpose(1, 2) : hidden;  // [B, HW, C]
  if (group_norm) x = group_norm(x.transpose(1, 2)).transpose(1, 2);
  const auto& source = context.defined() ? context : x;
  auto out = attention(to_q(x), to_k(source), to_v(source), options.heads, kernel);
  out = to_out->at<torch::nn::LinearImpl>(0).forward(out);
  if (spatial) out = out.transpose(1, 2).reshape(hidden.sizes());
  if (options.residual_connection) out = out + hidden;
  return out;
}

GEGLUImpl::GEGLUImpl(std::int64_t dim_in, std::int64_t dim_out) {
  proj = register_module("proj", torch::nn::Linear(dim_in, dim_out * 2));
}

at::Tensor GEGLUImpl::forward(const at::Tensor& x) {
  auto parts = proj(x).chunk(2, -1);
  return parts[0] * torch::gelu(parts[1]);
}

FeedForwardImpl::FeedForwardImpl(std::int64_t dim, std::int64_t mult) {
  const auto inner = dim * mult;
  geglu = GEGLU(dim, inner);
  out = torch::nn::Linear(inner, dim);
  net = register_module("net", torch::nn::ModuleList(geglu, torch::nn::Dropout(0.0), out));
  shrink_if_lean(*this);
}

at::Tensor FeedForwardImpl::forward(const at::Tensor& x) {
  const StreamScope stream(this);
  return out(geglu(x));
}

BasicTransformerBlockImpl::BasicTransformerBlockImpl(const TransformerOptions& o) {
  using namespace torch::nn;
  const auto dim_head = o.channels / o.heads;
  norm1 = register_module("norm1", LayerNorm(LayerNormOptions({o.channels}).eps(1e-5)));
  attn1 = register_module("attn1", Attention(AttentionModuleOptions{o.channels, 0, o.heads, dim_head, false,
                                                                    o.upcast_attention}));
  norm2 = register_module("norm2", LayerNorm(LayerNormOptions({o.channels}).eps(1e-5)));
  attn2 = register_module("attn2", Attention(AttentionModuleOptions{o.channels, o.cross_attention_dim, o.heads,
                                                                    dim_head, false, o.upcast_attention}));
  norm3 = register_module("norm3", LayerNorm(LayerNormOptions({o.channels}).eps(1e-5)));
  ff = register_module("ff", FeedForward(o.channels));
  shrink_if_lean(*this);
}

at::Tensor BasicTransformerBlockImpl::forward(const at::Tensor& x, const at::Tensor& context) {
  const StreamScope stream(this);
  auto h = attn1(norm1(x)) + x;
  h = attn2(norm2(h), context) + h;
  return ff(norm3(h)) + h;
}

Transformer2DModelImpl::Transformer2DModelImpl(const TransformerOptions& o) : options(o) {
  using namespace torch::nn;
  norm = register_module("norm", GroupNorm(GroupNormOptions(o.norm_groups, o.channels).eps(1e-6)));
  if (o.linear_projection) {
    proj_in = AnyModule(register_module("proj_in", Linear(o.channels, o.channels)));
  } else {
    proj_in = AnyModule(register_module("proj_in", Conv2d(Conv2dOptions(o.channels, o.channels, 1))));
  }
  transformer_blocks = register_module("transformer_blocks", ModuleList());
  for (std::int64_t i = 0; i < o.layers; ++i) transformer_blocks->push_back(BasicTransformerBlock(o));
  if (o.linear_projection) {
    proj_out = AnyModule(register_module("proj_out", Linear(o.channels, o.channels)));
  } else {
    proj_out = AnyModule(register_module("proj_out", Conv2d(Conv2dOptions(o.channels, o.channels, 1))));
  }
  shrink_if_lean(*this);
}

at::Tensor Transformer2DModelImpl::forward(const at::Tensor& x, const at::Tensor& context) {
  const StreamScope stream(this);
  const auto b = x.size(0), c = x.size(1), height = x.size(2), width = x.size(3);
  auto h = norm(x);
  if (options.linear_projection) {
    h = proj_in.forward(h.permute({0, 2, 3, 1}).reshape({b, height * width, c}));
  } else {
    h = proj_in.forward(h).permute({0, 2, 3, 1}).reshape({b, height * width, c});
  }
  for (const auto& block : *transformer_blocks) h = block->as<BasicTransformerBlockImpl>()->forward(h, context);
  if (options.linear_projection) {
    h = proj_out.forward(h).reshape({b, height, width, c}).permute({0, 3, 1, 2}).contiguous();
  } else {
    h = proj_out.forward(h.reshape({b, height, width, c}).permute({0, 3, 1, 2}).contiguous());
  }
  return h + x;
}

TimestepEmbeddingImpl::TimestepEmbeddingImpl(std::int64_t in_channels, std::int64_t time_embed_dim) {
  linear_1 = register_module("linear_1", torch::nn::Linear(in_channels, time_embed_dim));
  linear_2 = register_module("linear_2", torch::nn::Linear(time_embed_dim, time_embed_dim));
}

at::Tensor TimestepEmbeddingImpl::forward(const at::Tensor& x) { return linear_2(torch::silu(linear_1(x))); }

void set_attention_slice(torch::nn::Module& module, std::int64_t slice_size) {
  for (const auto& child : module.modules()) {
    if (auto* attn = child->as<AttentionImpl>()) attn->kernel.slice_size = slice_size;
  }
}

}  // namespace workers
