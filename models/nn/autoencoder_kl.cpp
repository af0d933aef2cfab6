#include "models/nn/autoencoder_kl.h"

#include "models/nn/weight_stream.h"
#include <vector>

namespace workers {
namespace {

constexpr double kVaeEps = 1e-6;

ResnetBlock2D vae_resnet(std::int64_t in, std::int64_t out, std::int64_t groups) {
  return ResnetBlock2D(ResnetBlock2DOptions{in, out, 0, groups, kVaeEps, 1.0});
}

// In-place linear blends over the shared border, as diffusers' blend_v / blend_h.
void blend_rows(const at::Tensor& above, at::Tensor& tile, std::int64_t extent) {
  extent = std::min({above.size(2), tile.size(2), extent});
  for (std::int64_t y = 0; y < extent; ++y) {
    const double w = static_cast<double>(y) / static_cast<double>(extent);
    tile.select(2, y).copy_(above.select(2, above.size(2) - extent + y) * (1.0 - w) + tile.select(2, y) * w);
  }
}

void blend_columns(const at::Tensor& left, at::Tensor& tile, std::int64_t extent) {
  extent = std::min({left.size(3), tile.size(3), extent});
  for (std::int64_t x = 0; x < extent; ++x) {
    const double w = static_cast<double>(x) / static_cast<double>(extent);
    tile.select(3, x).copy_(left.select(3, left.size(3) - extent + x) * (1.0 - w) + tile.select(3, x) * w);
  }
}

}  // namespace

VaeMidBlockImpl::VaeMidBlockImpl(std::int64_t channels, std::int64_t groups, bool add_attention) {
  resnets = register_module("resnets", torch::nn::ModuleList(vae_resnet(channels, channels, groups),
                                                             vae_resnet(channels, channels, groups)));
  if (add_attention) {
    AttentionModuleOptions o{channels};
    o.heads = 1;
    o.dim_head = channels;
    o.bias = true;
    o.upcast = true;
    o.norm_groups = groups;
    o.norm_eps = kVaeEps;
    o.residual_connection = true;
    attentions = register_module("attentions", torch::nn::ModuleList(Attention(o)));
  }
}

at::Tensor VaeMidBlockImpl::forward(const at::Tensor& x) {
  auto h = resnets->at<ResnetBlock2DImpl>(0).forward(x);
  if (attentions) h = attentions->at<AttentionImpl>(0).forward(h);
  return resnets->at<ResnetBlock2DImpl>(1).forward(h);
}

VaeUpBlockImpl::VaeUpBlockImpl(std::int64_t in, std::int64_t out, std::int64_t layers, std::int64_t groups,
                               bool add_upsample) {
  resnets = register_module("resnets", torch::nn::ModuleList());
  for (std::int64_t i = 0; i < layers; ++i) resnets->push_back(vae_resnet(i == 0 ? in : out, out, groups));
  if (add_upsample) upsamplers = register_module("upsamplers", torch::nn::ModuleList(Upsample2D(out)));
}

at::Tensor VaeUpBlockImpl::forward(at::Tensor x) {
  for (const auto& resnet : *resnets) x = resnet->as<ResnetBlock2DImpl>()->forward(x);
  if (upsamplers) x = upsamplers->at<Upsample2DImpl>(0).forward(x);
  return x;
}

VaeEncoderImpl::VaeEncoderImpl(const VaeConfig& c) {
  using namespace torch::nn;
  const auto& ch = c.block_out_channels;
  conv_in = register_module("conv_in", Conv2d(Conv2dOptions(c.in_channels, ch[0], 3).padding(1)));
  down_blocks = register_module("down_blocks", ModuleList());
  for (std::size_t i = 0; i < ch.size(); ++i) {
    BlockOptions o;
    o.in_channels = i == 0 ? ch[0] : ch[i - 1];
    o.out_channels = ch[i];
    o.num_layers = c.layers_per_block;
    o.groups = c.norm_num_groups;
    o.eps = kVaeEps;
    o.add_sample_resize = i + 1 < ch.size();
    o.downsample_padding = 0;
    down_blocks->push_back(DownBlock2D(o));
  }
  mid_block = register_module("mid_block", VaeMidBlock(ch.back(), c.norm_num_groups, c.mid_block_add_attention));
  conv_norm_out = register_module("conv_norm_out", GroupNorm(GroupNormOptions(c.norm_num_groups, ch.back()).eps(kVaeEps)));
  conv_out = register_module("conv_out", Conv2d(Conv2dOptions(ch.back(), 2 * c.latent_channels, 3).padding(1)));
}

at::Tensor VaeEncoderImpl::forward(const at::Tensor& x) {
  auto h = conv_in(x);
  std::vector<at::Tensor> unused_skips;
  for (const auto& block : *down_blocks) {
    h = block->as<DownBlock2DImpl>()->forward(h, {}, {}, unused_skips);
    unused_skips.clear();
  }
  h = mid_block(h);
  return conv_out(torch::silu(conv_norm_out(h)));
}

VaeDecoderImpl::VaeDecoderImpl(const VaeConfig& c) {
  using namespace torch::nn;
  std::vector<std::int64_t> reversed(c.block_out_channels.rbegin(), c.block_out_channels.rend());
  conv_in = register_module("conv_in", Conv2d(Conv2dOptions(c.latent_channels, reversed[0], 3).padding(1)));
  mid_block = register_module("mid_block", VaeMidBlock(reversed[0], c.norm_num_groups, c.mid_block_add_attention));
  up_blocks = register_module("up_blocks", ModuleList());
  auto output = reversed[0];
  for (std::size_t i = 0; i < reversed.size(); ++i) {
    const auto input = output;
    output = reversed[i];
    up_blocks->push_back(VaeUpBlock(input, output, c.layers_per_block + 1, c.norm_num_groups, i + 1 < reversed.size()));
  }
  conv_norm_out = register_module("conv_norm_out",
                                  GroupNorm(GroupNormOptions(c.norm_num_groups, reversed.back()).eps(kVaeEps)));
  conv_out = register_module("conv_out", Conv2d(Conv2dOptions(reversed.back(), c.out_channels, 3).padding(1)));
}

at::Tensor VaeDecoderImpl::forward(const at::Tensor& z) {
  auto h = mid_block(conv_in(z));
  for (const auto& block : *up_blocks) h = block->as<VaeUpBlockImpl>()->forward(h);
  return conv_out(torch::silu(conv_norm_out(h)));
}

AutoencoderKLImpl::AutoencoderKLImpl(const VaeConfig& c) : config_(c) {
  using namespace torch::nn;
  encoder = register_module("encoder", VaeEncoder(c));
  decoder = register_module("decoder", VaeDecoder(c));
  if (c.use_quant_conv) {
    quant_conv = register_module("quant_conv", Conv2d(Conv2dOptions(2 * c.latent_channels, 2 * c.latent_channels, 1)));
  }
  if (c.use_post_quant_conv) {
    post_quant_conv = register_module("post_quant_conv", Conv2d(Conv2dOptions(c.latent_channels, c.latent_channels, 1)));
  }
}

at::Tensor run_tiled(const at::Tensor& input, std::int64_t tile_in, std::int64_t tile_out, double overlap,
                     const std::function<at::Tensor(const at::Tensor&)>& run) {
  const auto stride = static_cast<std::int64_t>(static_cast<double>(tile_in) * (1.0 - overlap));
  const auto blend = static_cast<std::int64_t>(static_cast<double>(tile_out) * overlap);
  const auto keep = tile_out - blend;
  std::vector<std::vector<at::Tensor>> rows;
  for (std::int64_t i = 0; i < input.size(2); i += stride) {
    rows.emplace_back();
    for (std::int64_t j = 0; j < input.size(3); j += stride) {
      rows.back().push_back(run(input.slice(2, i, i + tile_in).slice(3, j, j + tile_in)));
    }
  }
  std::vector<at::Tensor> out_rows;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    std::vector<at::Tensor> cropped;
    for (std::size_t j = 0; j < rows[i].size(); ++j) {
      auto& tile = rows[i][j];
      if (i > 0) blend_rows(rows[i - 1][j], tile, blend);
      if (j > 0) blend_columns(rows[i][j - 1], tile, blend);
      cropped.push_back(tile.slice(2, 0, keep).slice(3, 0, keep));
    }
    out_rows.push_back(torch::cat(cropped, 3));
  }
  return torch::cat(out_rows, 2);
}

at::Tensor AutoencoderKLImpl::encode_moments(const at::Tensor& image, const VaeRunOptions& o) {
  auto run = [this](const at::Tensor& x) {
    auto h = encoder(x);
    return quant_conv ? quant_conv(h) : h;
  };
  const auto tile = o.tile_sample_size > 0 ? o.tile_sample_size : config_.sample_size;
  if (o.tiled && (image.size(2) > tile || image.size(3) > tile)) {
    return run_tiled(image, tile, tile / config_.downscale_factor(), o.tile_overlap, run);
  }
  return run(image);
}

LatentMoments AutoencoderKLImpl::encode(const at::Tensor& image, const VaeRunOptions& o) {
  const StreamScope stream(this);
  at::Tensor moments;
  if (o.sliced && image.size(0) > 1) {
    std::vector<at::Tensor> parts;
    for (const auto& one : image.split(1)) parts.push_back(encode_moments(one, o));
    moments = torch::cat(parts, 0);
  } else {
    moments = encode_moments(image, o);
  }
  auto halves = moments.chunk(2, 1);
  return {halves[0], halves[1].clamp(-30.0, 20.0)};
}

at::Tensor AutoencoderKLImpl::decode_one(const at::Tensor& latent, const VaeRunOptions& o) {
  auto run = [this](const at::Tensor& z) { return decoder(post_quant_conv ? post_quant_conv(z) : z); };
  const auto tile = o.tile_sample_size > 0 ? o.tile_sample_size : config_.sample_size;
  const auto tile_latent = tile / config_.downscale_factor();
  if (o.tiled && (latent.size(2) > tile_latent || latent.size(3) > tile_latent)) {
    return run_tiled(latent, tile_latent, tile, o.tile_overlap, run);
  }
  return run(latent);
}

at::Tensor AutoencoderKLImpl::decode(const at::Tensor& latent, const VaeRunOptions& o) {
  const StreamScope stream(this);
  if (o.sliced && latent.size(0) > 1) {
    std::vector<at::Tensor> parts;
    for (const auto& one : latent.split(1)) parts.push_back(decode_one(one, o));
    return torch::cat(parts, 0);
  }
  return decode_one(latent, o);
}

c10::ScalarType vae_compute_dtype(const VaeConfig& config, c10::ScalarType requested) {
  return requested == c10::kHalf && config.force_upcast ? c10::kFloat : requested;
}

}  // namespace workers
