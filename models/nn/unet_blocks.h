// UNet stages as diffusers builds them: DownBlock2D / CrossAttnDownBlock2D (one class, attention
// optional), UpBlock2D / CrossAttnUpBlock2D, UNetMidBlock2DCrossAttn. Shared by the UNet,
// the ControlNet encoder copy and (attention-free, no time input) the VAE encoder.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "models/nn/layers.h"

namespace workers {

struct BlockOptions {
  std::int64_t in_channels;
  std::int64_t out_channels;
  std::int64_t temb_channels = 0;
  std::int64_t num_layers = 1;
  bool cross_attention = false;
  TransformerOptions transformer{};  // channels is filled from out_channels
  std::int64_t groups = 32;
  double eps = 1e-5;
  double output_scale_factor = 1.0;
  bool add_sample_resize = true;     // downsampler (down blocks) / upsampler (up blocks)
  std::int64_t downsample_padding = 1;
  std::int64_t prev_output_channels = 0;  // up blocks: channels coming from the block below
};

struct DownBlock2DImpl : torch::nn::Module {
  explicit DownBlock2DImpl(BlockOptions options);
  // Appends every intermediate state (the skip connections) to `skips`.
  at::Tensor forward(at::Tensor x, const at::Tensor& temb, const at::Tensor& context, std::vector<at::Tensor>& skips);
  torch::nn::ModuleList resnets{nullptr}, attentions{nullptr}, downsamplers{nullptr};
};
TORCH_MODULE(DownBlock2D);

struct UpBlock2DImpl : torch::nn::Module {
  explicit UpBlock2DImpl(BlockOptions options);
  // Consumes num_layers skip states from the back of `skips`; `size`: upsample target (or ×2).
  at::Tensor forward(at::Tensor x, const at::Tensor& temb, const at::Tensor& context, std::vector<at::Tensor>& skips,
                     const std::vector<std::int64_t>& size);
  std::int64_t num_layers() const { return static_cast<std::int64_t>(resnets->size()); }
  torch::nn::ModuleList resnets{nullptr}, attentions{nullptr}, upsamplers{nullptr};
};
TORCH_MODULE(UpBlock2D);

// resnets.0, then (attentions.i, resnets.i+1) pairs.
struct MidBlock2DCrossAttnImpl : torch::nn::Module {
  explicit MidBlock2DCrossAttnImpl(BlockOptions options);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& temb, const at::Tensor& context);
  torch::nn::ModuleList resnets{nullptr}, attentions{nullptr};
};
TORCH_MODULE(MidBlock2DCrossAttn);

}  // namespace workers
