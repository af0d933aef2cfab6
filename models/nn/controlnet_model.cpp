#include "models/nn/controlnet_model.h"

#include "utilities/error.h"

namespace workers {
namespace {

torch::nn::Conv2d conv3(std::int64_t in, std::int64_t out, std::int64_t stride = 1) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).padding(1).stride(stride));
}

torch::nn::Conv2d conv1(std::int64_t channels) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, channels, 1));
}

}  // namespace

ControlNetConditioningEmbeddingImpl::ControlNetConditioningEmbeddingImpl(
    std::int64_t embedding_channels, std::int64_t conditioning_channels, const std::vector<std::int64_t>& channels) {
  conv_in = register_module("conv_in", conv3(conditioning_channels, channels.front()));
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (std::size_t i = 0; i + 1 < channels.size(); ++i) {
    blocks->push_back(conv3(channels[i], channels[i]));
    blocks->push_back(conv3(channels[i], channels[i + 1], 2));
  }
  conv_out = register_module("conv_out", conv3(channels.back(), embedding_channels));
}

at::Tensor ControlNetConditioningEmbeddingImpl::forward(const at::Tensor& image) {
  auto h = torch::silu(conv_in(image));
  for (const auto& block : *blocks) h = torch::silu(block->as<torch::nn::Conv2dImpl>()->forward(h));
  return conv_out(h);
}

ControlNetModelImpl::ControlNetModelImpl(const UNetConfig& c) : encoder(*this, c) {
  if (c.conditioning_embedding_out_channels.empty()) {
    throw Error(ErrorCode::kModelLoadError, "ControlNet config: conditioning_embedding_out_channels is required");
  }
  controlnet_cond_embedding = register_module(
      "controlnet_cond_embedding",
      ControlNetConditioningEmbedding(c.block_out_channels[0], c.conditioning_channels,
                                      c.conditioning_embedding_out_channels));
  // One zero conv per UNet skip state.
  controlnet_down_blocks = register_module("controlnet_down_blocks", torch::nn::ModuleList());
  for (auto channels : encoder.skip_channels()) controlnet_down_blocks->push_back(conv1(channels));
  controlnet_mid_block = register_module("controlnet_mid_block", conv1(c.block_out_channels.back()));
}

ControlResiduals ControlNetModelImpl::forward(const at::Tensor& sample, const at::Tensor& timestep,
                                              const at::Tensor& context, const at::Tensor& control_image, double scale,
                                              const at::Tensor& text_embeds, const at::Tensor& time_ids) {
  const auto& c = config();
  auto image = c.bgr_conditioning ? control_image.flip({1}) : control_image;
  auto emb = encoder.embed(timestep, sample.size(0), text_embeds, time_ids, sample.scalar_type());
  auto h = encoder.conv_in(sample) + controlnet_cond_embedding(image.to(sample.scalar_type()));
  std::vector<at::Tensor> skips;
  h = encoder.down_and_mid(h, emb, context, skips);

  ControlResiduals out;
  for (std::size_t i = 0; i < skips.size(); ++i) {
    out.down.push_back(controlnet_down_blocks->at<torch::nn::Conv2dImpl>(i).forward(skips[i]) * scale);
  }
  out.mid = controlnet_mid_block(h) * scale;
  if (c.global_pool_conditions) {
    for (auto& r : out.down) r = r.mean({2, 3}, true);
    out.mid = out.mid.mean({2, 3}, true);
  }
  return out;
}

}  // namespace workers
