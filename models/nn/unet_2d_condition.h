// UNet2DConditionModel for the SDXL family (base, refiner, inpainting), built from its config.json
// with diffusers' module names; optional ControlNet residuals are added to the skips and mid block.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "models/nn/nn_configs.h"
#include "models/nn/unet_blocks.h"

namespace workers {

// What a ControlNet adds: one residual per UNet skip connection, plus one for the mid block.
struct ControlResiduals {
  std::vector<at::Tensor> down;
  at::Tensor mid;
};

// Timestep (+ SDXL text_time) embedding and the down/mid path: the part UNet2DConditionModel and
// ControlNetModel share. Registers conv_in, time_embedding, add_embedding, down_blocks and
// mid_block on the owning module, so names match diffusers in both.
class UNetEncoder {
 public:
  UNetEncoder() = default;
  UNetEncoder(torch::nn::Module& owner, const UNetConfig& config);

  // timestep: a scalar or one per sample. text_embeds/time_ids: SDXL added conditions.
  at::Tensor embed(const at::Tensor& timestep, std::int64_t batch, const at::Tensor& text_embeds,
                   const at::Tensor& time_ids, c10::ScalarType dtype);
  // conv_in output (before any ControlNet hint is added).
  at::Tensor conv_in(const at::Tensor& sample) { return conv_in_->forward(sample); }
  // Down blocks, then the mid block; `skips` receives every skip state (conv_in's first).
  at::Tensor down_and_mid(at::Tensor h, const at::Tensor& emb, const at::Tensor& context,
                          std::vector<at::Tensor>& skips);

  const UNetConfig& config() const { return config_; }
  // Channels of each skip state, in order (conv_in's, then each resnet and downsampler):
  // one ControlNet down residual (and zero conv) per entry.
  std::vector<std::int64_t> skip_channels() const;
  std::size_t skip_count() const { return skip_channels().size(); }

 private:
  UNetConfig config_;
  torch::nn::Conv2d conv_in_{nullptr};
  TimestepEmbedding time_embedding_{nullptr}, add_embedding_{nullptr};
  torch::nn::ModuleList down_blocks_{nullptr};
  MidBlock2DCrossAttn mid_block_{nullptr};
};

struct UNet2DConditionModelImpl : torch::nn::Module {
  explicit UNet2DConditionModelImpl(const UNetConfig& config);

  // sample [B, in_channels, h, w]; context [B, tokens, cross_attention_dim]; text_embeds
  // [B, pooled] and time_ids [B, n] when the config has text_time; returns [B, out_channels, h, w].
  at::Tensor forward(const at::Tensor& sample, const at::Tensor& timestep, const at::Tensor& context,
                     const at::Tensor& text_embeds = {}, const at::Tensor& time_ids = {},
                     const ControlResiduals* control = nullptr);

  const UNetConfig& config() const { return encoder.config(); }

  UNetEncoder encoder;
  torch::nn::ModuleList up_blocks{nullptr};
  torch::nn::GroupNorm conv_norm_out{nullptr};
  torch::nn::Conv2d conv_out{nullptr};
};
TORCH_MODULE(UNet2DConditionModel);

// The BlockOptions of down block `i` (shared with the ControlNet's zero-conv layout).
BlockOptions down_block_options(const UNetConfig& config, std::size_t i);

}  // namespace workers
