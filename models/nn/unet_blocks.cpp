#include "models/nn/unet_blocks.h"

namespace workers {
namespace {

ResnetBlock2D make_resnet(const BlockOptions& o, std::int64_t in_channels) {
  return ResnetBlock2D(ResnetBlock2DOptions{in_channels, o.out_channels, o.temb_channels, o.groups, o.eps,
                                            o.output_scale_factor});
}

Transformer2DModel make_transformer(const BlockOptions& o) {
  auto t = o.transformer;
  t.channels = o.out_channels;
  t.norm_groups = o.groups;
  return Transformer2DModel(t);
}

at::Tensor run_attention(torch::nn::ModuleList& attentions, std::size_t i, const at::Tensor& x,
                         const at::Tensor& context) {
  if (!attentions || attentions->is_empty()) return x;
  return attentions->at<Transformer2DModelImpl>(i).forward(x, context);
}

}  // namespace

DownBlock2DImpl::DownBlock2DImpl(BlockOptions o) {
  resnets = register_module("resnets", torch::nn::ModuleList());
  if (o.cross_attention) attentions = register_module("attentions", torch::nn::ModuleList());
  for (std::int64_t i = 0; i < o.num_layers; ++i) {
    resnets->push_back(make_resnet(o, i == 0 ? o.in_channels : o.out_channels));
    if (o.cross_attention) attentions->push_back(make_transformer(o));
  }
  if (o.add_sample_resize) {
    downsamplers = register_module("downsamplers",
                                   torch::nn::ModuleList(Downsample2D(o.out_channels, o.downsample_padding)));
  }
}

at::Tensor DownBlock2DImpl::forward(at::Tensor x, const at::Tensor& temb, const at::Tensor& context,
                                    std::vector<at::Tensor>& skips) {
  for (std::size_t i = 0; i < resnets->size(); ++i) {
    x = resnets->at<ResnetBlock2DImpl>(i).forward(x, temb);
    x = run_attention(attentions, i, x, context);
    skips.push_back(x);
  }
  if (downsamplers) {
    x = downsamplers->at<Downsample2DImpl>(0).forward(x);
    skips.push_back(x);
  }
  return x;
}

UpBlock2DImpl::UpBlock2DImpl(BlockOptions o) {
  resnets = register_module("resnets", torch::nn::ModuleList());
  if (o.cross_attention) attentions = register_module("attentions", torch::nn::ModuleList());
  for (std::int64_t i = 0; i < o.num_layers; ++i) {
    // The last resnet takes the skip from the block input's level, the others this level's.
    const auto skip_channels = i == o.num_layers - 1 ? o.in_channels : o.out_channels;
    const auto input_channels = i == 0 ? o.prev_output_channels : o.out_channels;
    resnets->push_back(make_resnet(o, input_channels + skip_channels));
    if (o.cross_attention) attentions->push_back(make_transformer(o));
  }
  if (o.add_sample_resize) {
    upsamplers = register_module("upsamplers", torch::nn::ModuleList(Upsample2D(o.out_channels)));
  }
}

at::Tensor UpBlock2DImpl::forward(at::Tensor x, const at::Tensor& temb, const at::Tensor& context,
                                  std::vector<at::Tensor>& skips, const std::vector<std::int64_t>& size) {
  for (std::size_t i = 0; i < resnets->size(); ++i) {
    auto skip = std::move(skips.back());
    skips.pop_back();
    x = resnets->at<ResnetBlock2DImpl>(i).forward(torch::cat({x, skip}, 1), temb);
    x = run_attention(attentions, i, x, context);
  }
  if (upsamplers) x = upsamplers->at<Upsample2DImpl>(0).forward(x, size);
  return x;
}

MidBlock2DCrossAttnImpl::MidBlock2DCrossAttnImpl(BlockOptions o) {
  resnets = register_module("resnets", torch::nn::ModuleList(make_resnet(o, o.in_channels)));
  attentions = register_module("attentions", torch::nn::ModuleList());
  for (std::int64_t i = 0; i < o.num_layers; ++i) {
    attentions->push_back(make_transformer(o));
    resnets->push_back(make_resnet(o, o.out_channels));
  }
}

at::Tensor MidBlock2DCrossAttnImpl::forward(const at::Tensor& x, const at::Tensor& temb, const at::Tensor& context) {
  auto h = resnets->at<ResnetBlock2DImpl>(0).forward(x, temb);
  for (std::size_t i = 0; i < attentions->size(); ++i) {
    h = attentions->at<Transformer2DModelImpl>(i).forward(h, context);
    h = resnets->at<ResnetBlock2DImpl>(i + 1).forward(h, temb);
  }
  return h;
}

}  // namespace workers
