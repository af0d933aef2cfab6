// The SDXL denoising worker: text2img, img2img, inpainting with a 4-channel UNet (latent mask
// blending) or a 9-channel inpainting UNet, and the base + refiner ensemble of experts, with
// classifier-free guidance, guidance rescale and micro-conditioning, step for step as diffusers'
// StableDiffusionXL{,Img2Img,Inpaint}Pipeline compute them.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include "conditioning/micro_conditioning.h"
#include "conditioning/prompt_encoder.h"
#include "models/nn/autoencoder_kl.h"
#include "models/nn/unet_2d_condition.h"
#include "schedulers/scheduler.h"

namespace workers {

// One expert of the ensemble: a base (or inpainting) model, or a refiner.
struct SdxlStage {
  UNet2DConditionModel unet{nullptr};
  SdxlTextEncoders encoders;
  std::unique_ptr<Scheduler> scheduler;  // fresh per job
  bool force_zeros_for_empty_prompt = true;
};

struct SdxlRun {
  PromptTexts prompts;
  PromptOptions prompt_options;  // force_zeros_for_empty_prompt comes from each stage
  std::int64_t width = 1024;
  std::int64_t height = 1024;
  std::int64_t steps = 30;
  std::int64_t batch = 1;  // num_images_per_prompt
  double guidance_scale = 5.0;
  double guidance_rescale = 0.0;
  double strength = 1.0;                // img2img / inpainting
  std::optional<double> denoising_end;  // where the refiner takes over (needs a refiner)
  MicroConditioning micro;
  at::Tensor init_image;  // [1, 3, H, W] in [-1, 1]; undefined: text2img
  at::Tensor mask;        // [1, 1, H, W] in {0, 1}; undefined: no inpainting
};

struct SdxlOutput {
  at::Tensor latents;  // final latents (before the VAE)
  at::Tensor handover_latents;  // the base's output when a refiner took over
  at::Tensor images;   // [B, H, W, 3] float32 in [0, 1], CPU
  std::vector<std::string> warnings;
};

// Classifier-free guidance on a [negative; positive] UNet output: uncond + g · (text - uncond),
// then diffusers' rescale_noise_cfg when `rescale` > 0.
at::Tensor apply_guidance(const at::Tensor& noise_pred, double guidance_scale, double rescale);

// After every model call: (calls done, calls in total). Throwing from it stops the run.
using StepCallback = std::function<void(int done, int total)>;

// Throws Error(INVALID_REQUEST) for combinations the models cannot run (a 9-channel UNet without
// a mask, a refiner with a mask, denoising_end without a refiner) and what the parts throw.
SdxlOutput run_sdxl(SdxlStage& base, SdxlStage* refiner, AutoencoderKL& vae, const SdxlRun& run,
                    at::Generator& generator, const StepCallback& on_step);

}  // namespace workers
