// ControlNetModel (SDXL): a trainable copy of the UNet encoder fed the UNet's inputs plus an
// embedded control image; 1×1 zero convs turn its skips and mid state into UNet residuals.
#pragma once

#include <cstdint>

#include <torch/torch.h>

#include "models/nn/nn_configs.h"
#include "models/nn/unet_2d_condition.h"

namespace workers {

// conv_in, blocks (3×3 pairs, the second of each with stride 2), conv_out: image -> latent grid.
struct ControlNetConditioningEmbeddingImpl : torch::nn::Module {
  ControlNetConditioningEmbeddingImpl(std::int64_t embedding_channels, std::int64_t conditioning_channels,
                                      const std::vector<std::int64_t>& block_out_channels);
  at::Tensor forward(const at::Tensor& image);
  torch::nn::Conv2d conv_in{nullptr}, conv_out{nullptr};
  torch::nn::ModuleList blocks{nullptr};
};
TORCH_MODULE(ControlNetConditioningEmbedding);

struct ControlNetModelImpl : torch::nn::Module {
  explicit ControlNetModelImpl(const UNetConfig& config);

  // The UNet's inputs plus `control_image` [B, conditioning_channels, 8h, 8w] in [0, 1];
  // residuals are multiplied by `scale` (diffusers' conditioning_scale; guess mode off).
  ControlResiduals forward(const at::Tensor& sample, const at::Tensor& timestep, const at::Tensor& context,
                           const at::Tensor& control_image, double scale, const at::Tensor& text_embeds = {},
                           const at::Tensor& time_ids = {});

  const UNetConfig& config() const { return encoder.config(); }

  UNetEncoder encoder;
  ControlNetConditioningEmbedding controlnet_cond_embedding{nullptr};
  torch::nn::ModuleList controlnet_down_blocks{nullptr};
  torch::nn::Conv2d controlnet_mid_block{nullptr};
};
TORCH_MODULE(ControlNetModel);

}  // namespace workers
