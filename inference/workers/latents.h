// Latent-space preparation and read-out for the SDXL pipelines, in diffusers' order of operations
// and of random draws: initial noise, VAE-encoded (sampled) image latents, inpainting mask
// latents, and decoding to [0, 1] images. Every draw comes from the request's CPU generator.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include "models/nn/autoencoder_kl.h"
#include "schedulers/scheduler.h"
#include "utilities/image.h"

namespace workers {

// randn on the CPU generator (float32, diffusers' randn_tensor), moved to `device` / `dtype`, so
// a seed gives the same noise on every device.
at::Tensor draw_latent_noise(at::IntArrayRef shape, at::Generator& generator, const at::TensorOptions& target);

// image [B, 3, H, W] in [-1, 1] -> scaling_factor · (mean + std · randn): diffusers'
// retrieve_latents(vae.encode(image), generator) then the scaling, in `target` dtype. With a
// `window` (total > 0) the noise is drawn for window.total images and images [offset, offset + B)
// kept, as a chunk of a larger batch draws it.
at::Tensor encode_image_latents(AutoencoderKL& vae, const at::Tensor& image, at::Generator& generator,
                                const at::TensorOptions& target, const NoiseWindow& window = {},
                                const VaeRunOptions& options = {});

// latents -> vae.decode(latents / scaling_factor) -> (x / 2 + 0.5).clamp(0, 1), NHWC float32 on CPU.
at::Tensor decode_latents(AutoencoderKL& vae, const at::Tensor& latents, const VaeRunOptions& options = {});

// 8-bit RGB images from NHWC [0, 1]: round(x · 255), as diffusers' numpy_to_pil.
std::vector<Image> to_images(const at::Tensor& nhwc);

}  // namespace workers
