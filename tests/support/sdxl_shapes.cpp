#include "support/sdxl_shapes.h"

#include <fcntl.h>
#include <unistd.h>

#include <random>
#include <stdexcept>

#include "models/io/safetensors_header.h"

namespace workers::testing_support {
namespace {

using Dims = std::vector<std::int64_t>;

struct Builder {
  ShapeList shapes;
  void add(const std::string& name, Dims dims) { shapes.emplace_back(name, std::move(dims)); }
  void linear(const std::string& p, std::int64_t out, std::int64_t in, bool bias = true) {
    add(p + ".weight", {out, in});
    if (bias) add(p + ".bias", {out});
  }
  void conv(const std::string& p, std::int64_t out, std::int64_t in, std::int64_t k) {
    add(p + ".weight", {out, in, k, k});
    add(p + ".bias", {out});
  }
  void norm(const std::string& p, std::int64_t c) {
    add(p + ".weight", {c});
    add(p + ".bias", {c});
  }
};

struct UnetSpec {
  Dims channels;
  std::vector<bool> attention;
  std::vector<int> depth;
  int mid_depth;
  int layers = 2;
  std::int64_t context;
  std::int64_t adm_in;
  std::int64_t in_channels = 4;
};

void unet_resnet(Builder& b, const std::string& p, std::int64_t in, std::int64_t out, std::int64_t temb) {
  b.norm(p + "in_layers.0", in);
  b.conv(p + "in_layers.2", out, in, 3);
  b.linear(p + "emb_layers.1", out, temb);
  b.norm(p + "out_layers.0", out);
  b.conv(p + "out_layers.3", out, out, 3);
  if (in != out) b.conv(p + "skip_connection", out, in, 1);
}

void unet_transformer(Builder& b, const std::string& p, std::int64_t c, int depth, std::int64_t context) {
  b.norm(p + "norm", c);
  b.linear(p + "proj_in", c, c);
  for (int i = 0; i < depth; ++i) {
    const std::string t = p + "transformer_blocks." + std::to_string(i) + ".";
    for (const char* q : {"attn1.to_q", "attn1.to_k", "attn1.to_v", "attn2.to_q"}) b.linear(t + q, c, c, false);
    b.linear(t + "attn2.to_k", c, context, false);
    b.linear(t + "attn2.to_v", c, context, false);
    b.linear(t + "attn1.to_out.0", c, c);
    b.linear(t + "attn2.to_out.0", c, c);
    b.linear(t + "ff.net.0.proj", 8 * c, c);  // GEGLU: two 4c halves
    b.linear(t + "ff.net.2", c, 4 * c);
    for (const char* n : {"norm1", "norm2", "norm3"}) b.norm(t + n, c);
  }
  b.linear(p + "proj_out", c, c);
}

void unet(Builder& b, const UnetSpec& u) {
  const std::string P = "model.diffusion_model.";
  const std::int64_t temb = 4 * u.channels[0];
  b.linear(P + "time_embed.0", temb, u.channels[0]);
  b.linear(P + "time_embed.2", temb, temb);
  b.linear(P + "label_emb.0.0", temb, u.adm_in);
  b.linear(P + "label_emb.0.2", temb, temb);
  b.conv(P + "input_blocks.0.0", u.channels[0], u.in_channels, 3);
  std::vector<std::int64_t> skips{u.channels[0]};
  std::int64_t ch = u.channels[0];
  int index = 1;
  const int levels = static_cast<int>(u.channels.size());
  for (int level = 0; level < levels; ++level) {
    for (int j = 0; j < u.layers; ++j, ++index) {
      const std::string p = P + "input_blocks." + std::to_string(index) + ".";
      unet_resnet(b, p + "0.", ch, u.channels[level], temb);
      ch = u.channels[level];
      if (u.attention[level]) unet_transformer(b, p + "1.", ch, u.depth[level], u.context);
      skips.push_back(ch);
    }
    if (level < levels - 1) {
      b.conv(P + "input_blocks." + std::to_string(index++) + ".0.op", ch, ch, 3);
      skips.push_back(ch);
    }
  }
  unet_resnet(b, P + "middle_block.0.", ch, ch, temb);
  unet_transformer(b, P + "middle_block.1.", ch, u.mid_depth, u.context);
  unet_resnet(b, P + "middle_block.2.", ch, ch, temb);
  index = 0;
  for (int level = levels - 1; level >= 0; --level) {
    for (int j = 0; j <= u.layers; ++j, ++index) {
      const std::string p = P + "output_blocks." + std::to_string(index) + ".";
      const std::int64_t skip = skips.back();
      skips.pop_back();
      unet_resnet(b, p + "0.", ch + skip, u.channels[level], temb);
      ch = u.channels[level];
      if (u.attention[level]) unet_transformer(b, p + "1.", ch, u.depth[level], u.context);
      if (level > 0 && j == u.layers) b.conv(p + (u.attention[level] ? "2" : "1") + ".conv", ch, ch, 3);
    }
  }
  b.norm(P + "out.0", ch);
  b.conv(P + "out.2", 4, ch, 3);
}

void vae_resnet(Builder& b, const std::string& p, std::int64_t in, std::int64_t out) {
  b.norm(p + "norm1", in);
  b.conv(p + "conv1", out, in, 3);
  b.norm(p + "norm2", out);
  b.conv(p + "conv2", out, out, 3);
  if (in != out) b.conv(p + "nin_shortcut", out, in, 1);
}

void vae_mid(Builder& b, const std::string& p, std::int64_t c) {
  vae_resnet(b, p + "block_1.", c, c);
  b.norm(p + "attn_1.norm", c);
  for (const char* n : {"q", "k", "v", "proj_out"}) b.conv(p + "attn_1." + n, c, c, 1);
  vae_resnet(b, p + "block_2.", c, c);
}

void vae(Builder& b) {
  const std::string P = "first_stage_model.";
  const Dims channels{128, 256, 512, 512};
  b.conv(P + "encoder.conv_in", 128, 3, 3);
  std::int64_t ch = 128;
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 2; ++j) {
      vae_resnet(b, P + "encoder.down." + std::to_string(i) + ".block." + std::to_string(j) + ".", ch, channels[i]);
      ch = channels[i];
    }
    if (i < 3) b.conv(P + "encoder.down." + std::to_string(i) + ".downsample.conv", ch, ch, 3);
  }
  vae_mid(b, P + "encoder.mid.", ch);
  b.norm(P + "encoder.norm_out", ch);
  b.conv(P + "encoder.conv_out", 8, ch, 3);
  b.conv(P + "quant_conv", 8, 8, 1);
  b.conv(P + "post_quant_conv", 4, 4, 1);
  b.conv(P + "decoder.conv_in", 512, 4, 3);
  ch = 512;
  vae_mid(b, P + "decoder.mid.", ch);
  for (int i = 3; i >= 0; --i) {
    for (int j = 0; j < 3; ++j) {
      vae_resnet(b, P + "decoder.up." + std::to_string(i) + ".block." + std::to_string(j) + ".", ch, channels[i]);
      ch = channels[i];
    }
    if (i > 0) b.conv(P + "decoder.up." + std::to_string(i) + ".upsample.conv", ch, ch, 3);
  }
  b.norm(P + "decoder.norm_out", ch);
  b.conv(P + "decoder.conv_out", 3, ch, 3);
}

void clip_l(Builder& b) {
  const std::string P = "conditioner.embedders.0.transformer.text_model.";
  b.add(P + "embeddings.token_embedding.weight", {49408, 768});
  b.add(P + "embeddings.position_embedding.weight", {77, 768});
  for (int i = 0; i < 12; ++i) {
    const std::string l = P + "encoder.layers." + std::to_string(i) + ".";
    for (const char* n : {"q_proj", "k_proj", "v_proj", "out_proj"}) b.linear(l + "self_attn." + n, 768, 768);
    b.norm(l + "layer_norm1", 768);
    b.norm(l + "layer_norm2", 768);
    b.linear(l + "mlp.fc1", 3072, 768);
    b.linear(l + "mlp.fc2", 768, 3072);
  }
  b.norm(P + "final_layer_norm", 768);
}

void open_clip(Builder& b, int embedder) {
  const std::string P = "conditioner.embedders." + std::to_string(embedder) + ".model.";
  b.add(P + "token_embedding.weight", {49408, 1280});
  b.add(P + "positional_embedding", {77, 1280});
  for (int i = 0; i < 32; ++i) {
    const std::string l = P + "transformer.resblocks." + std::to_string(i) + ".";
    b.norm(l + "ln_1", 1280);
    b.norm(l + "ln_2", 1280);
    b.add(l + "attn.in_proj_weight", {3840, 1280});
    b.add(l + "attn.in_proj_bias", {3840});
    b.linear(l + "attn.out_proj", 1280, 1280);
    b.linear(l + "mlp.c_fc", 5120, 1280);
    b.linear(l + "mlp.c_proj", 1280, 5120);
  }
  b.norm(P + "ln_final", 1280);
  b.add(P + "text_projection", {1280, 1280});
  b.add(P + "logit_scale", {});
}

}  // namespace

ShapeList sdxl_base_checkpoint_shapes(int unet_in_channels) {
  Builder b;
  unet(b, {{320, 640, 1280}, {false, true, true}, {1, 2, 10}, 10, 2, 2048, 2816, unet_in_channels});
  vae(b);
  clip_l(b);
  open_clip(b, 1);
  return b.shapes;
}

ShapeList sdxl_refiner_checkpoint_shapes() {
  Builder b;
  unet(b, {{384, 768, 1536, 1536}, {false, true, true, false}, {4, 4, 4, 4}, 4, 2, 1280, 2560});
  vae(b);
  open_clip(b, 0);
  return b.shapes;
}

std::uint64_t write_checkpoint(const std::string& path, const ShapeList& shapes, bool random, int max_exponent) {
  std::vector<TensorEntry> entries;
  std::uint64_t offset = 0;
  for (const auto& [name, dims] : shapes) {
    TensorEntry e;
    e.name = name;
    e.dtype = StDtype::kF16;
    e.shape = dims;
    e.begin = offset;
    offset += static_cast<std::uint64_t>(e.numel()) * 2;
    e.end = offset;
    entries.push_back(std::move(e));
  }
  const std::string header = serialize_safetensors_header(entries, {{"format", "pt"}});
  const std::uint64_t size = header.size() + offset;
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) throw std::runtime_error("cannot create " + path);
  bool ok = ::write(fd, header.data(), header.size()) == static_cast<ssize_t>(header.size());
  if (random) {
    // Random halves: sign bit, exponent 1..max_exponent (14: below 1.0), random mantissa.
    std::mt19937_64 rng(42);
    std::vector<std::uint16_t> chunk(1 << 22);
    for (std::uint64_t left = offset / 2; ok && left > 0;) {
      const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, chunk.size()));
      for (std::size_t i = 0; i < n; i += 4) {
        std::uint64_t bits = rng();
        for (std::size_t k = 0; k < 4 && i + k < n; ++k, bits >>= 16) {
          const std::uint16_t v = static_cast<std::uint16_t>(bits);
          chunk[i + k] = static_cast<std::uint16_t>((v & 0x83ff) | ((1 + (v >> 10) % max_exponent) << 10));
        }
      }
      ok = ::write(fd, chunk.data(), n * 2) == static_cast<ssize_t>(n * 2);
      left -= n;
    }
  } else {
    ok = ok && ::ftruncate(fd, static_cast<off_t>(size)) == 0;  // sparse: the data reads as zeros
  }
  ok = ::close(fd) == 0 && ok;
  if (!ok) throw std::runtime_error("cannot write " + path + " (disk full?)");
  return size;
}

}  // namespace workers::testing_support
