#include "inference/workers/latents.h"

#include <torch/torch.h>

namespace workers {

at::Tensor draw_latent_noise(at::IntArrayRef shape, at::Generator& generator, const at::TensorOptions& target) {
  auto noise = at::randn(shape, generator, at::TensorOptions().dtype(at::kFloat).device(at::kCPU));
  return noise.to(target.device(), target.dtype());
}

at::Tensor encode_image_latents(AutoencoderKL& vae, const at::Tensor& image, at::Generator& generator,
                                const at::TensorOptions& target, const NoiseWindow& window,
                                const VaeRunOptions& options) {
  const auto vae_dtype = vae->parameters().front().scalar_type();
  const auto vae_device = vae->parameters().front().device();
  auto moments = vae->encode(image.to(vae_device, vae_dtype), options);
  auto std = at::exp(0.5 * moments.logvar);
  auto shape = moments.mean.sizes().vec();
  const auto batch = shape[0];
  if (window.total > 0) shape[0] = window.total;
  auto noise = draw_latent_noise(shape, generator, moments.mean.options());
  if (window.total > 0) noise = noise.narrow(0, window.offset, batch);
  auto sample = moments.mean + std * noise;
  return (vae->config().scaling_factor * sample).to(target.device(), target.dtype());
}

at::Tensor decode_latents(AutoencoderKL& vae, const at::Tensor& latents, const VaeRunOptions& options) {
  const auto vae_dtype = vae->parameters().front().scalar_type();
  auto scaled = latents / vae->config().scaling_factor;
  auto image = vae->decode(scaled.to(vae_dtype), options);
  image = (image / 2 + 0.5).clamp(0, 1);
  return image.to(at::kCPU, at::kFloat).permute({0, 2, 3, 1}).contiguous();
}

std::vector<Image> to_images(const at::Tensor& nhwc) {
  auto bytes = (nhwc * 255).round().to(at::kByte).contiguous();
  std::vector<Image> out;
  for (std::int64_t i = 0; i < bytes.size(0); ++i) {
    Image image;
    image.height = static_cast<int>(bytes.size(1));
    image.width = static_cast<int>(bytes.size(2));
    image.channels = static_cast<int>(bytes.size(3));
    const auto* data = bytes[i].data_ptr<std::uint8_t>();
    image.pixels.assign(data, data + bytes[i].numel());
    out.push_back(std::move(image));
  }
  return out;
}

}  // namespace workers
