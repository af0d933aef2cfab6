// AutoencoderKL (the SDXL VAE) from its config.json with diffusers' names: encoder to the latent
// Gaussian's mean/logvar, decoder to pixels; tiled (overlapping tiles, linear blending, as
// diffusers) and sliced (one image at a time) variants bound memory for large images or batches.
#pragma once

#include <cstdint>
#include <functional>

#include <torch/torch.h>

#include "models/nn/layers.h"
#include "models/nn/nn_configs.h"
#include "models/nn/unet_blocks.h"

namespace workers {

// resnets.0, attentions.0 (single-head, GroupNorm'd, residual), resnets.1.
struct VaeMidBlockImpl : torch::nn::Module {
  VaeMidBlockImpl(std::int64_t channels, std::int64_t groups, bool add_attention);
  at::Tensor forward(const at::Tensor& x);
  torch::nn::ModuleList resnets{nullptr}, attentions{nullptr};
};
TORCH_MODULE(VaeMidBlock);

// UpDecoderBlock2D: resnets then an optional upsampler, no skip connections.
struct VaeUpBlockImpl : torch::nn::Module {
  VaeUpBlockImpl(std::int64_t in_channels, std::int64_t out_channels, std::int64_t layers, std::int64_t groups,
                 bool add_upsample);
  at::Tensor forward(at::Tensor x);
  torch::nn::ModuleList resnets{nullptr}, upsamplers{nullptr};
};
TORCH_MODULE(VaeUpBlock);

struct VaeEncoderImpl : torch::nn::Module {
  explicit VaeEncoderImpl(const VaeConfig& config);
  at::Tensor forward(const at::Tensor& x);  // [B, 2·latent, h, w]
  torch::nn::Conv2d conv_in{nullptr}, conv_out{nullptr};
  torch::nn::ModuleList down_blocks{nullptr};
  VaeMidBlock mid_block{nullptr};
  torch::nn::GroupNorm conv_norm_out{nullptr};
};
TORCH_MODULE(VaeEncoder);

struct VaeDecoderImpl : torch::nn::Module {
  explicit VaeDecoderImpl(const VaeConfig& config);
  at::Tensor forward(const at::Tensor& z);
  torch::nn::Conv2d conv_in{nullptr}, conv_out{nullptr};
  VaeMidBlock mid_block{nullptr};
  torch::nn::ModuleList up_blocks{nullptr};
  torch::nn::GroupNorm conv_norm_out{nullptr};
};
TORCH_MODULE(VaeDecoder);

struct VaeRunOptions {
  bool sliced = false;  // one image of the batch at a time
  bool tiled = false;   // overlapping tiles when the input is larger than one tile
  std::int64_t tile_sample_size = 0;  // pixels; 0 = config.sample_size (diffusers' default)
  double tile_overlap = 0.25;
};

struct LatentMoments {
  at::Tensor mean;
  at::Tensor logvar;  // clamped to [-30, 20] as diffusers' DiagonalGaussianDistribution
};

struct AutoencoderKLImpl : torch::nn::Module {
  explicit AutoencoderKLImpl(const VaeConfig& config);

  // image [B, 3, H, W] in [-1, 1] -> moments of the unscaled latent [B, latent, H/8, W/8].
  LatentMoments encode(const at::Tensor& image, const VaeRunOptions& options = {});
  // unscaled latent -> raw decoder output (≈[-1, 1]); the caller divides by scaling_factor first.
  at::Tensor decode(const at::Tensor& latent, const VaeRunOptions& options = {});

  const VaeConfig& config() const { return config_; }

  VaeEncoder encoder{nullptr};
  VaeDecoder decoder{nullptr};
  torch::nn::Conv2d quant_conv{nullptr}, post_quant_conv{nullptr};

 private:
  at::Tensor encode_moments(const at::Tensor& image, const VaeRunOptions& options);
  at::Tensor decode_one(const at::Tensor& latent, const VaeRunOptions& options);
  VaeConfig config_;
};
TORCH_MODULE(AutoencoderKL);

// The dtype the VAE runs in for a requested compute dtype: fp32 for fp16 when the config says
// force_upcast (the SDXL VAE overflows in fp16), as diffusers' SDXL pipelines do.
c10::ScalarType vae_compute_dtype(const VaeConfig& config, c10::ScalarType requested);

// Overlapping tiles of `input` run through `run`, blended linearly over the overlap and cropped,
// exactly as diffusers' tiled_encode/tiled_decode. `tile_in`/`tile_out`: tile sides before and
// after `run`; `overlap`: fraction of a tile shared with its neighbour.
at::Tensor run_tiled(const at::Tensor& input, std::int64_t tile_in, std::int64_t tile_out, double overlap,
                     const std::function<at::Tensor(const at::Tensor&)>& run);

}  // namespace workers
