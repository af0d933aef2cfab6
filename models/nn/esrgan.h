// ESRGAN-family super-resolution networks as PyTorch C++ frontend modules under BasicSR's names
// (models/io/upscaler_arch maps the other layouts onto them): RRDBNet (ESRGAN, Real-ESRGAN ×4,
// ×2 and ×1) and SRVGGNetCompact (realesr-general, animevideo). The forward passes are spandrel's.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "models/io/upscaler_arch.h"
#include "models/nn/weights.h"

namespace workers {

// The role both networks play: image [B, C, H, W] in [0, 1] -> [B, C', H·scale, W·scale]
// (unclamped), in the module's dtype and on its device.
struct UpscalerNetworkImpl : torch::nn::Module {
  virtual at::Tensor forward(const at::Tensor& x) = 0;
};

// Five 3×3 convs, each seeing the input and every earlier output (dense), LeakyReLU(0.2) after
// the first four; the result, scaled by 0.2, is added to the input.
struct ResidualDenseBlockImpl : torch::nn::Module {
  ResidualDenseBlockImpl(std::int64_t num_feat, std::int64_t num_grow_ch);
  at::Tensor forward(const at::Tensor& x);
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr}, conv4{nullptr}, conv5{nullptr};
};
TORCH_MODULE(ResidualDenseBlock);

// Residual in residual: three dense blocks, then 0.2 · out + x.
struct RRDBImpl : torch::nn::Module {
  RRDBImpl(std::int64_t num_feat, std::int64_t num_grow_ch);
  at::Tensor forward(const at::Tensor& x);
  ResidualDenseBlock rdb1{nullptr}, rdb2{nullptr}, rdb3{nullptr};
};
TORCH_MODULE(RRDB);

// conv_first, body (RRDBs) + conv_body as a residual, arch.num_upsample × (nearest ×2, conv_upN,
// LeakyReLU), conv_hr + LeakyReLU, conv_last. With shuffle_factor > 1 the input is reflect-padded
// to a multiple of it and pixel-unshuffled first, and the output cropped back (spandrel).
struct RRDBNetImpl : UpscalerNetworkImpl {
  explicit RRDBNetImpl(const UpscalerArch& arch);
  at::Tensor forward(const at::Tensor& x) override;

  std::int64_t scale, shuffle_factor;
  torch::nn::Conv2d conv_first{nullptr}, conv_body{nullptr}, conv_hr{nullptr}, conv_last{nullptr};
  torch::nn::ModuleList body{nullptr};
  std::vector<torch::nn::Conv2d> conv_up;  // registered as conv_up1, conv_up2, ...
};
TORCH_MODULE(RRDBNet);

// body = [conv, PReLU] × (num_conv + 1), last conv to out·scale² channels; pixel shuffle; plus
// the nearest-upsampled input, so the network learns a residual.
struct SRVGGNetCompactImpl : UpscalerNetworkImpl {
  explicit SRVGGNetCompactImpl(const UpscalerArch& arch);
  at::Tensor forward(const at::Tensor& x) override;

  std::int64_t scale;
  torch::nn::ModuleList body{nullptr};
  std::vector<torch::nn::Conv2d> convs;       // body.0, body.2, ..., body.<last>
  std::vector<torch::nn::PReLU> activations;  // body.1, body.3, ...
};
TORCH_MODULE(SRVGGNetCompact);

// An untrained network of `arch`'s shape (fp32, CPU).
std::shared_ptr<UpscalerNetworkImpl> make_upscaler_network(const UpscalerArch& arch);

// The network for `arch` with `tensors` (under the file's names, renamed through arch.keys; tensors
// arch.keys does not list, such as `params` beside `params_ema`, are left out) loaded strictly in
// dtype on device. Throws Error(MODEL_LOAD_ERROR) with `what` naming missing/unexpected keys.
std::shared_ptr<UpscalerNetworkImpl> build_upscaler_network(const UpscalerArch& arch,
                                                            const NamedTensors& tensors,
                                                            const std::string& what,
                                                            c10::ScalarType dtype,
                                                            c10::Device device);

}  // namespace workers
