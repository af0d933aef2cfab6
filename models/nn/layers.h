// The building blocks diffusers' UNet, ControlNet and VAE share, as PyTorch C++ frontend modules
// registered under diffusers' attribute names: ResnetBlock2D, Down/Upsample2D, Attention,
// FeedForward (GEGLU), BasicTransformerBlock, Transformer2DModel and the timestep embeddings.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "models/nn/attention.h"

namespace workers {

// Sinusoidal timestep features as diffusers' get_timestep_embedding: t [N] -> [N, dim] (fp32).
at::Tensor timestep_embedding(const at::Tensor& timesteps, std::int64_t dim, bool flip_sin_to_cos,
                              double downscale_freq_shift, double max_period = 10000.0);

struct ResnetBlock2DOptions {
  std::int64_t in_channels;
  std::int64_t out_channels;
  std::int64_t temb_channels = 0;  // 0: no time embedding input (VAE)
  std::int64_t groups = 32;
  double eps = 1e-5;
  double output_scale_factor = 1.0;
};

struct ResnetBlock2DImpl : torch::nn::Module {
  explicit ResnetBlock2DImpl(const ResnetBlock2DOptions& options);
  at::Tensor forward(const at::Tensor& input, const at::Tensor& temb = {});

  ResnetBlock2DOptions options;
  torch::nn::GroupNorm norm1{nullptr}, norm2{nullptr};
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv_shortcut{nullptr};
  torch::nn::Linear time_emb_proj{nullptr};
};
TORCH_MODULE(ResnetBlock2D);

// A stride-2 3×3 conv; padding 0 pads right/bottom by one first (the VAE encoder's layout).
struct Downsample2DImpl : torch::nn::Module {
  Downsample2DImpl(std::int64_t channels, std::int64_t padding);
  at::Tensor forward(const at::Tensor& x);
  std::int64_t padding;
  torch::nn::Conv2d conv{nullptr};
};
TORCH_MODULE(Downsample2D);

// Nearest ×2 (or to `size` when the skip connection is odd-sized) then a 3×3 conv.
struct Upsample2DImpl : torch::nn::Module {
  explicit Upsample2DImpl(std::int64_t channels);
  at::Tensor forward(const at::Tensor& x, const std::vector<std::int64_t>& size = {});
  torch::nn::Conv2d conv{nullptr};
};
TORCH_MODULE(Upsample2D);

struct AttentionModuleOptions {
  std::int64_t query_dim;
  std::int64_t cross_attention_dim = 0;  // 0: self-attention
  std::int64_t heads = 1;
  std::int64_t dim_head = 64;
  bool bias = false;                // q/k/v projections
  bool upcast = false;
  std::int64_t norm_groups = 0;     // > 0: a GroupNorm on the input (VAE mid-block attention)
  double norm_eps = 1e-5;
  bool residual_connection = false;
};

// diffusers' Attention: to_q/to_k/to_v, to_out.0; takes [B, N, C] or, in the VAE, [B, C, H, W].
struct AttentionImpl : torch::nn::Module {
  explicit AttentionImpl(const AttentionModuleOptions& options);
  at::Tensor forward(const at::Tensor& hidden, const at::Tensor& context = {});

  AttentionModuleOptions options;
  AttentionOptions kernel;  // slicing is set by set_attention_slice()
  torch::nn::GroupNorm group_norm{nullptr};
  torch::nn::Linear to_q{nullptr}, to_k{nullptr}, to_v{nullptr};
  torch::nn::ModuleList to_out{nullptr};  // [0] = output Linear (diffusers keeps a Dropout at [1])
};
TORCH_MODULE(Attention);

// GEGLU: proj (dim -> 2·inner), split, value · gelu(gate).
struct GEGLUImpl : torch::nn::Module {
  GEGLUImpl(std::int64_t dim_in, std::int64_t dim_out);
  at::Tensor forward(const at::Tensor& x);
  torch::nn::Linear proj{nullptr};
};
TORCH_MODULE(GEGLU);

// Feed-forward as diffusers numbers it: net.0 = GEGLU, net.1 = Dropout, net.2 = Linear.
struct FeedForwardImpl : torch::nn::Module {
  FeedForwardImpl(std::int64_t dim, std::int64_t mult = 4);
  at::Tensor forward(const at::Tensor& x);
  torch::nn::ModuleList net{nullptr};
  GEGLU geglu{nullptr};
  torch::nn::Linear out{nullptr};
};
TORCH_MODULE(FeedForward);

struct TransformerOptions {
  std::int64_t channels;
  std::int64_t heads;
  std::int64_t layers = 1;
  std::int64_t cross_attention_dim;
  std::int64_t norm_groups = 32;
  bool linear_projection = false;
  bool upcast_attention = false;
};

// Self-attention, cross-attention and feed-forward, each pre-LayerNorm with a residual.
struct BasicTransformerBlockImpl : torch::nn::Module {
  explicit BasicTransformerBlockImpl(const TransformerOptions& options);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& context);
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr}, norm3{nullptr};
  Attention attn1{nullptr}, attn2{nullptr};
  FeedForward ff{nullptr};
};
TORCH_MODULE(BasicTransformerBlock);

// Transformer2DModel (continuous input): GroupNorm, proj_in, blocks, proj_out, residual.
struct Transformer2DModelImpl : torch::nn::Module {
  explicit Transformer2DModelImpl(const TransformerOptions& options);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& context);
  TransformerOptions options;
  torch::nn::GroupNorm norm{nullptr};
  torch::nn::AnyModule proj_in, proj_out;  // Linear (use_linear_projection) or 1×1 Conv2d
  torch::nn::ModuleList transformer_blocks{nullptr};
};
TORCH_MODULE(Transformer2DModel);

// linear_1, SiLU, linear_2.
struct TimestepEmbeddingImpl : torch::nn::Module {
  TimestepEmbeddingImpl(std::int64_t in_channels, std::int64_t time_embed_dim);
  at::Tensor forward(const at::Tensor& x);
  torch::nn::Linear linear_1{nullptr}, linear_2{nullptr};
};
TORCH_MODULE(TimestepEmbedding);

// Sets the attention slice size (0 = off) of every Attention under `module`.
void set_attention_slice(torch::nn::Module& module, std::int64_t slice_size);

}  // namespace workers
