#include "models/nn/esrgan.h"

#include <map>

#include "utilities/error.h"

namespace workers {
namespace {

namespace F = torch::nn::functional;

constexpr double kSlope = 0.2;          // LeakyReLU slope throughout ESRGAN
constexpr double kResidualScale = 0.2;  // dense-block and RRDB residual scaling

torch::nn::Conv2d conv3x3(std::int64_t in, std::int64_t out) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).padding(1));
}

// Nearest upsampling by an integer factor, given as a scale factor (not a size) so the kernel sees
// the same source-index formula as PyTorch's F.interpolate(scale_factor=...).
at::Tensor nearest(const at::Tensor& x, std::int64_t factor) {
  // No bf16 CPU kernel for nearest upsampling in older torch; copying pixels is exact in fp32.
  auto input = x.scalar_type() == torch::kBFloat16 && x.is_cpu() ? x.to(torch::kFloat32) : x;
  const double f = static_cast<double>(factor);
  auto up = F::interpolate(
      input,
      F::InterpolateFuncOptions().mode(torch::kNearest).scale_factor(std::vector<double>{f, f}));
  return up.to(x.scalar_type());
}

// LeakyReLU in place, as BasicSR's LeakyReLU(inplace=True): one feature map less alive at a time
// (at the ×4 grid, a few 64-channel maps are the peak).
at::Tensor leaky(at::Tensor t) {
  torch::leaky_relu_(t, kSlope);
  return t;
}

}  // namespace

ResidualDenseBlockImpl::ResidualDenseBlockImpl(std::int64_t nf, std::int64_t gc) {
  conv1 = register_module("conv1", conv3x3(nf, gc));
  conv2 = register_module("conv2", conv3x3(nf + gc, gc));
  conv3 = register_module("conv3", conv3x3(nf + 2 * gc, gc));
  conv4 = register_module("conv4", conv3x3(nf + 3 * gc, gc));
  conv5 = register_module("conv5", conv3x3(nf + 4 * gc, nf));
}

at::Tensor ResidualDenseBlockImpl::forward(const at::Tensor& x) {
  auto x1 = leaky(conv1(x));
  auto x2 = leaky(conv2(torch::cat({x, x1}, 1)));
  auto x3 = leaky(conv3(torch::cat({x, x1, x2}, 1)));
  auto x4 = leaky(conv4(torch::cat({x, x1, x2, x3}, 1)));
  auto x5 = conv5(torch::cat({x, x1, x2, x3, x4}, 1));
  return x5 * kResidualScale + x;
}

RRDBImpl::RRDBImpl(std::int64_t nf, std::int64_t gc) {
  rdb1 = register_module("rdb1", ResidualDenseBlock(nf, gc));
  rdb2 = register_module("rdb2", ResidualDenseBlock(nf, gc));
  rdb3 = register_module("rdb3", ResidualDenseBlock(nf, gc));
}

at::Tensor RRDBImpl::forward(const at::Tensor& x) {
  return rdb3(rdb2(rdb1(x))) * kResidualScale + x;
}

RRDBNetImpl::RRDBNetImpl(const UpscalerArch& arch)
    : scale(arch.scale), shuffle_factor(arch.shuffle_factor) {
  const std::int64_t nf = arch.num_feat;
  const std::int64_t in =
      static_cast<std::int64_t>(arch.in_channels) * arch.shuffle_factor * arch.shuffle_factor;
  conv_first = register_module("conv_first", conv3x3(in, nf));
  body = register_module("body", torch::nn::ModuleList());
  for (int i = 0; i < arch.num_block; ++i) body->push_back(RRDB(nf, arch.num_grow_ch));
  conv_body = register_module("conv_body", conv3x3(nf, nf));
  for (int i = 1; i <= arch.num_upsample; ++i) {
    conv_up.push_back(register_module("conv_up" + std::to_string(i), conv3x3(nf, nf)));
  }
  conv_hr = register_module("conv_hr", conv3x3(nf, nf));
  conv_last = register_module("conv_last", conv3x3(nf, arch.out_channels));
}

at::Tensor RRDBNetImpl::forward(const at::Tensor& input) {
  const auto h = input.size(2), w = input.size(3);
  auto x = input;
  if (shuffle_factor > 1) {
    const auto pad_h = (shuffle_factor - h % shuffle_factor) % shuffle_factor;
    const auto pad_w = (shuffle_factor - w % shuffle_factor) % shuffle_factor;
    if (pad_h || pad_w) {
      // Reflection needs more pixels than it pads; a 1-2 px strip falls back to replicating.
      const bool reflect = pad_h < h && pad_w < w;
      auto options = F::PadFuncOptions({0, pad_w, 0, pad_h});
      x = F::pad(x, reflect ? options.mode(torch::kReflect) : options.mode(torch::kReplicate));
    }
    x = torch::pixel_unshuffle(x, shuffle_factor);
  }
  auto feat = conv_first(x);
  auto trunk = feat;
  for (const auto& block : *body) trunk = block->as<RRDBImpl>()->forward(trunk);
  feat = feat + conv_body(trunk);
  trunk = at::Tensor();
  for (auto& conv : conv_up) feat = leaky(conv(nearest(feat, 2)));
  feat = leaky(conv_hr(feat));  // the previous full-size map is freed here
  auto out = conv_last(feat);
  if (shuffle_factor > 1) {
    out = out.slice(2, 0, h * scale).slice(3, 0, w * scale);
  }
  return out;
}

SRVGGNetCompactImpl::SRVGGNetCompactImpl(const UpscalerArch& arch) : scale(arch.scale) {
  const std::int64_t nf = arch.num_feat;
  body = register_module("body", torch::nn::ModuleList());
  for (int i = 0; i <= arch.num_conv; ++i) {
    convs.push_back(conv3x3(i == 0 ? arch.in_channels : nf, nf));
    body->push_back(convs.back());
    activations.push_back(torch::nn::PReLU(torch::nn::PReLUOptions().num_parameters(nf)));
    body->push_back(activations.back());
  }
  convs.push_back(
      conv3x3(nf, static_cast<std::int64_t>(arch.out_channels) * arch.scale * arch.scale));
  body->push_back(convs.back());
}

at::Tensor SRVGGNetCompactImpl::forward(const at::Tensor& x) {
  auto out = x;
  for (std::size_t i = 0; i < activations.size(); ++i) out = activations[i](convs[i](out));
  out = torch::pixel_shuffle(convs.back()(out), scale);
  return out + nearest(x, scale);
}

std::shared_ptr<UpscalerNetworkImpl> make_upscaler_network(const UpscalerArch& arch) {
  if (arch.kind == UpscalerKind::kCompact) return std::make_shared<SRVGGNetCompactImpl>(arch);
  return std::make_shared<RRDBNetImpl>(arch);
}

std::shared_ptr<UpscalerNetworkImpl> build_upscaler_network(const UpscalerArch& arch,
                                                            const NamedTensors& tensors,
                                                            const std::string& what,
                                                            c10::ScalarType dtype,
                                                            c10::Device device) {
  std::map<std::string, const at::Tensor*> by_name;
  for (const auto& [name, tensor] : tensors) by_name.emplace(name, &tensor);
  NamedTensors renamed;
  renamed.reserve(arch.keys.size());
  for (const auto& [from, to] : arch.keys) {
    auto it = by_name.find(from);
    if (it == by_name.end()) throw Error(ErrorCode::kModelLoadError, what + ": no tensor " + from);
    renamed.emplace_back(to, *it->second);
  }
  auto network = make_upscaler_network(arch);
  load_weights(*network, renamed, what, dtype, device);
  network->eval();
  return network;
}

}  // namespace workers
