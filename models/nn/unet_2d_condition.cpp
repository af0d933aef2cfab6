#include "models/nn/unet_2d_condition.h"

#include "models/nn/weight_stream.h"
#include "utilities/error.h"

namespace workers {

namespace {

// What every block at `level` shares: time input, attention layout, norms; `depth` is the
// number of transformer layers per attention.
BlockOptions level_options(const UNetConfig& c, std::size_t level, std::int64_t depth) {
  BlockOptions o;
  o.temb_channels = c.time_embedding_dim;
  o.transformer.heads = c.num_attention_heads[level];
  o.transformer.layers = depth;
  o.transformer.cross_attention_dim = c.cross_attention_dim[level];
  o.transformer.linear_projection = c.use_linear_projection;
  o.transformer.upcast_attention = c.upcast_attention;
  o.groups = c.norm_num_groups;
  o.eps = c.norm_eps;
  o.output_scale_factor = c.resnet_out_scale_factor;
  return o;
}

}  // namespace

BlockOptions down_block_options(const UNetConfig& c, std::size_t i) {
  auto o = level_options(c, i, c.transformer_layers_per_block[i]);
  o.in_channels = i == 0 ? c.block_out_channels[0] : c.block_out_channels[i - 1];
  o.out_channels = c.block_out_channels[i];
  o.num_layers = c.layers_per_block[i];
  o.cross_attention = c.down_block_types[i] == "CrossAttnDownBlock2D";
  o.add_sample_resize = i + 1 < c.block_out_channels.size();
  o.downsample_padding = c.downsample_padding;
  return o;
}

UNetEncoder::UNetEncoder(torch::nn::Module& owner, const UNetConfig& c) : config_(c) {
  using namespace torch::nn;
  const auto k = c.conv_in_kernel;
  conv_in_ = owner.register_module("conv_in",
                                   Conv2d(Conv2dOptions(c.in_channels, c.block_out_channels[0], k).padding(k / 2)));
  time_embedding_ = owner.register_module("time_embedding",
                                          TimestepEmbedding(c.block_out_channels[0], c.time_embedding_dim));
  if (c.text_time_embedding) {
    add_embedding_ = owner.register_module(
        "add_embedding", TimestepEmbedding(c.projection_class_embeddings_input_dim, c.time_embedding_dim));
  }
  down_blocks_ = owner.register_module("down_blocks", ModuleList());
  for (std::size_t i = 0; i < c.block_out_channels.size(); ++i) {
    down_blocks_->push_back(DownBlock2D(down_block_options(c, i)));
  }
  const auto last = c.block_out_channels.size() - 1;
  auto mid = level_options(c, last, c.transformer_layers_per_block[last]);
  mid.in_channels = mid.out_channels = c.block_out_channels[last];
  mid.num_layers = 1;
  mid.cross_attention = true;
  mid.output_scale_factor = c.mid_block_scale_factor;
  mid_block_ = owner.register_module("mid_block", MidBlock2DCrossAttn(mid));
}

std::vector<std::int64_t> UNetEncoder::skip_channels() const {
  const auto& c = config_;
  std::vector<std::int64_t> out{c.block_out_channels[0]};
  for (std::size_t i = 0; i < c.block_out_channels.size(); ++i) {
    const auto states = c.layers_per_block[i] + (i + 1 < c.block_out_channels.size() ? 1 : 0);
    out.insert(out.end(), static_cast<std::size_t>(states), c.block_out_channels[i]);
  }
  return out;
}

at::Tensor UNetEncoder::embed(const at::Tensor& timestep, std::int64_t batch, const at::Tensor& text_embeds,
                              const at::Tensor& time_ids, c10::ScalarType dtype) {
  auto t = timestep.reshape({-1});
  if (t.size(0) == 1) t = t.expand({batch});
  if (t.size(0) != batch) {
    throw Error(ErrorCode::kInvalidRequest, "UNet: " + std::to_string(t.size(0)) + " timesteps for a batch of " +
                                                std::to_string(batch));
  }
  const auto& c = config_;
  auto emb = time_embedding_->forward(
      timestep_embedding(t, c.block_out_channels[0], c.flip_sin_to_cos, c.freq_shift).to(dtype));
  if (!c.text_time_embedding) return emb;
  if (!text_embeds.defined() || !time_ids.defined()) {
    throw Error(ErrorCode::kInvalidRequest, "UNet: this SDXL model needs text_embeds and time_ids");
  }
  const auto expected = text_embeds.size(-1) + time_ids.size(-1) * c.addition_time_embed_dim;
  if (expected != c.projection_class_embeddings_input_dim || text_embeds.size(0) != batch ||
      time_ids.size(0) != batch) {
    throw Error(ErrorCode::kInvalidRequest,
                "UNet: text_embeds " + c10::str(text_embeds.sizes()) + " and time_ids " + c10::str(time_ids.sizes()) +
                    " do not fit add_embedding (" + std::to_string(c.projection_class_embeddings_input_dim) +
                    " inputs, batch " + std::to_string(batch) + ")");
  }
  auto time_embeds = timestep_embedding(time_ids.flatten(), c.addition_time_embed_dim, c.flip_sin_to_cos,
                                        c.freq_shift)
                         .reshape({batch, -1});
  auto add = torch::cat({text_embeds.to(time_embeds.scalar_type()), time_embeds}, -1).to(dtype);
  return emb + add_embedding_->forward(add);
}

at::Tensor UNetEncoder::down_and_mid(at::Tensor h, const at::Tensor& emb, const at::Tensor& context,
                                     std::vector<at::Tensor>& skips) {
  skips.push_back(h);
  for (const auto& block : *down_blocks_) h = block->as<DownBlock2DImpl>()->forward(h, emb, context, skips);
  return mid_block_->forward(h, emb, context);
}

UNet2DConditionModelImpl::UNet2DConditionModelImpl(const UNetConfig& c) : encoder(*this, c) {
  using namespace torch::nn;
  up_blocks = register_module("up_blocks", ModuleList());
  const auto levels = c.block_out_channels.size();
  std::vector<std::int64_t> reversed(c.block_out_channels.rbegin(), c.block_out_channels.rend());
  auto output_channels = reversed[0];
  for (std::size_t i = 0; i < levels; ++i) {
    const auto down = levels - 1 - i;  // the down block this up block mirrors
    auto o = level_options(c, down, c.reverse_transformer_layers_per_block[i]);
    o.prev_output_channels = output_channels;
    output_channels = reversed[i];
    o.out_channels = output_channels;
    o.in_channels = reversed[std::min(i + 1, levels - 1)];
    o.num_layers = c.layers_per_block[down] + 1;
    o.cross_attention = c.up_block_types[i] == "CrossAttnUpBlock2D";
    o.add_sample_resize = i + 1 < levels;
    up_blocks->push_back(UpBlock2D(o));
  }
  conv_norm_out = register_module(
      "conv_norm_out", GroupNorm(GroupNormOptions(c.norm_num_groups, c.block_out_channels[0]).eps(c.norm_eps)));
  const auto k = c.conv_out_kernel;
  conv_out = register_module("conv_out",
                             Conv2d(Conv2dOptions(c.block_out_channels[0], c.out_channels, k).padding(k / 2)));
}

at::Tensor UNet2DConditionModelImpl::forward(const at::Tensor& sample, const at::Tensor& timestep,
                                             const at::Tensor& context, const at::Tensor& text_embeds,
                                             const at::Tensor& time_ids, const ControlResiduals* control) {
  const StreamScope stream(this);
  const auto& c = config();
  // With an odd-sized skip (latent side not a multiple of 2^upsamplers) each upsampler is told
  // the size of the skip it meets, as diffusers' forward_upsample_size does.
  const auto factor = std::int64_t{1} << (c.block_out_channels.size() - 1);
  const bool forward_size = sample.size(-1) % factor != 0 || sample.size(-2) % factor != 0;

  auto x = c.center_input_sample ? 2.0 * sample - 1.0 : sample;
  auto emb = encoder.embed(timestep, x.size(0), text_embeds, time_ids, x.scalar_type());
  std::vector<at::Tensor> skips;
  auto h = encoder.down_and_mid(encoder.conv_in(x), emb, context, skips);
  if (control) {
    if (control->down.size() != skips.size() || !control->mid.defined()) {
      throw Error(ErrorCode::kInvalidRequest, "UNet: ControlNet gave " + std::to_string(control->down.size()) +
                                                  " residuals, the UNet has " + std::to_string(skips.size()) +
                                                  " skip connections");
    }
    for (std::size_t i = 0; i < skips.size(); ++i) skips[i] = skips[i] + control->down[i];
    h = h + control->mid;
  }
  for (std::size_t i = 0; i < up_blocks->size(); ++i) {
    auto& block = up_blocks->at<UpBlock2DImpl>(i);
    std::vector<std::int64_t> size;
    const auto remaining = skips.size() - static_cast<std::size_t>(block.num_layers());
    if (forward_size && i + 1 < up_blocks->size()) size = skips[remaining - 1].sizes().slice(2).vec();
    h = block.forward(h, emb, context, skips, size);
  }
  return conv_out(torch::silu(conv_norm_out(h)));
}

}  // namespace workers
