#include "conditioning/workers/image_tensors.h"

#include <torch/torch.h>

#include "utilities/error.h"

namespace workers {
namespace {

at::Tensor to_unit_nchw(const Image& image) {
  auto t = torch::from_blob(const_cast<std::uint8_t*>(image.pixels.data()),
                            {image.height, image.width, image.channels}, torch::kByte);
  return (t.to(torch::kFloat) / 255.0f).permute({2, 0, 1}).unsqueeze(0).contiguous();
}

}  // namespace

at::Tensor image_tensor(const Image& image) {
  if (image.channels != 3)
    throw Error(ErrorCode::kInternalError, "image_tensor needs an RGB image");
  return 2.0f * to_unit_nchw(image) - 1.0f;
}

at::Tensor control_tensor(const Image& image) {
  if (image.channels != 3)
    throw Error(ErrorCode::kInternalError, "control_tensor needs an RGB image");
  return to_unit_nchw(image);
}

at::Tensor mask_tensor(const Image& mask) {
  if (mask.channels != 1) throw Error(ErrorCode::kInternalError, "mask_tensor needs a gray image");
  auto m = to_unit_nchw(mask);
  return (m >= 0.5f).to(torch::kFloat);
}

}  // namespace workers
