// NeuralUpscaler: the ImageUpscaler of an ESRGAN-family model file (.safetensors or .pth; the
// architecture detected from its keys as spandrel does), run at its native scale on a torch
// device, tile by tile as Real-ESRGAN's tile_process so that memory stays bounded on large images.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <memory>
#include <string>

#include "models/io/upscaler_arch.h"
#include "postprocessing/workers/image_upscaler.h"

namespace workers {

struct UpscalerNetworkImpl;

struct UpscalerTiling {
  // Side of a tile in input pixels; 0 runs the whole image at once. At 256 (+2·10 context) a
  // 64-feature ×4 RRDBNet's activations peak at about 1.5 GiB fp32 (measured, bench_upscaler:
  // a few 64-channel maps at the ×4 grid), whatever the image size.
  int tile_size = 256;
  // Input pixels of context on each side of a tile, run through the network and cropped away
  // (Real-ESRGAN's tile_pad): seams vanish once it covers the receptive field.
  int tile_pad = 10;
};

class NeuralUpscaler : public ImageUpscaler {
 public:
  // Reads the model at `path` (.safetensors; .pth/.pt/.ckpt/.bin as a PyTorch pickle) and loads
  // it strictly in `dtype` on `device`. Throws Error(MODEL_NOT_FOUND) for a missing file,
  // Error(MODEL_LOAD_ERROR) for an unknown architecture or weights that do not fit it.
  static std::unique_ptr<NeuralUpscaler> load(const std::string& path, c10::Device device,
                                              c10::ScalarType dtype, UpscalerTiling tiling = {});
  // An already built network (benchmarks, tests); `name` is what name() reports.
  NeuralUpscaler(std::string name, UpscalerArch arch, std::shared_ptr<UpscalerNetworkImpl> network,
                 c10::Device device, c10::ScalarType dtype, UpscalerTiling tiling = {});
  ~NeuralUpscaler() override;
  // The same network (no copy of the weights) run with other tiling.
  std::shared_ptr<NeuralUpscaler> with_tiling(UpscalerTiling tiling) const;

  std::string name() const override { return name_; }  // the file stem
  int native_scale() const override { return arch_.scale; }
  // At most 3 passes at the native scale while smaller than the target, then PIL's Lanczos to
  // exactly width × height. A gray image is run as RGB when the model wants 3 channels.
  Image upscale(const Image& image, int width, int height) override;

  // One pass of the network, tiled as configured: [B, C, H, W] floats in [0, 1] (any device and
  // dtype) -> [B, C', H·scale, W·scale] fp32 on the input's device, not clamped. Safe to call
  // from several threads (inference only). Throws Error(OOM_ERROR) when the device runs out.
  at::Tensor run(const at::Tensor& image) const { return run(image, tiling_); }
  at::Tensor run(const at::Tensor& image, const UpscalerTiling& tiling) const;
  // One pass on 8-bit pixels: /255, run, clamp to [0, 1], ·255 and round (as spandrel/ComfyUI).
  Image upscale_once(const Image& image) const;

  const UpscalerArch& arch() const { return arch_; }
  const UpscalerTiling& tiling() const { return tiling_; }
  c10::ScalarType dtype() const { return dtype_; }

 private:
  at::Tensor run_tile(const at::Tensor& tile) const;

  std::string name_;
  UpscalerArch arch_;
  std::shared_ptr<UpscalerNetworkImpl> network_;
  c10::Device device_;
  c10::ScalarType dtype_;
  UpscalerTiling tiling_;
};

}  // namespace workers
