// Input images as the pipelines take them: an init image, an inpainting mask or a ControlNet
// control map (8-bit Image) to a float32 NCHW tensor, as diffusers' image processors make them.
#pragma once

#include <ATen/core/Tensor.h>

#include "utilities/image.h"

namespace workers {

// RGB Image -> [1, 3, H, W] float32 in [-1, 1] (x / 255 · 2 - 1); gray mask -> [1, 1, H, W]
// binarised at 0.5 (white = repaint), as diffusers' VaeImageProcessor / mask processor.
at::Tensor image_tensor(const Image& image);
// RGB control map -> [1, 3, H, W] float32 in [0, 1] (diffusers' control image processor does not
// normalise).
at::Tensor control_tensor(const Image& image);
at::Tensor mask_tensor(const Image& mask);

}  // namespace workers
