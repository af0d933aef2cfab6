// The SDXL denoising worker: text2img, img2img, inpainting with a 4-channel UNet (latent mask
// blending) or a 9-channel inpainting UNet, and the base + refiner ensemble of experts, with
// classifier-free guidance, guidance rescale and micro-conditioning, step for step as diffusers'
// StableDiffusionXL{,Img2Img,Inpaint}Pipeline compute them, with ControlNets added to the base
// model's steps as StableDiffusionXLControlNet{,Img2Img,Inpaint}Pipeline add them.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include "conditioning/managers/conditioning_manager.h"
#include "conditioning/micro_conditioning.h"
#include "conditioning/prompt_encoder.h"
#include "models/nn/autoencoder_kl.h"
#include "models/nn/controlnet_model.h"
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

// One ControlNet of a stack: its model, its control image and when and how strongly it acts.
struct ControlUnit {
  ControlNetModel net{nullptr};
  at::Tensor image;  // [1, 3, H, W] in [0, 1] at the output size
  double scale = 1.0;  // controlnet_conditioning_scale
  double start = 0.0;  // control_guidance_start, a fraction of the steps
  double end = 1.0;    // control_guidance_end
};

// diffusers' controlnet_keep: 1 while step i of n lies inside [start, end], else 0.
double control_keep(std::int64_t i, std::int64_t n, double start, double end);

struct SdxlRun {
  PromptTexts prompts;
  PromptOptions prompt_options;  // force_zeros_for_empty_prompt comes from each stage
  // Encodes the prompts (the ConditioningManager); null: encode_prompts, the same worker it drives.
  const PromptEncoder* prompt_encoder = nullptr;
  std::int64_t width = 1024;
  std::int64_t height = 1024;
  std::int64_t steps = 30;
  std::int64_t batch = 1;  // num_images_per_prompt
  // A chunk of a larger batch: every per-image random draw is made for `noise_window.total`
  // images and images [offset, offset + batch) are kept, so the chunk's images equal those of one
  // run over the whole batch. Total 0: draw for `batch`.
  NoiseWindow noise_window;
  double guidance_scale = 5.0;
  double guidance_rescale = 0.0;
  double strength = 1.0;                // img2img / inpainting
  std::optional<double> denoising_end;  // where the refiner takes over (needs a refiner)
  MicroConditioning micro;
  at::Tensor init_image;  // [1, 3, H, W] in [-1, 1]; undefined: text2img
  // img2img from latents instead ([batch, 4, H/8, W/8], already scaled, one per image): what
  // diffusers does with a 4-channel `image`, no VAE encoding. The hires fix's second pass.
  at::Tensor init_latents;
  bool decode = true;     // false: out.images stays undefined (the latents go on to another pass)
  at::Tensor mask;        // [1, 1, H, W] in {0, 1}; undefined: no inpainting
  std::vector<ControlUnit> controls;  // ControlNets on the base model's steps (summed residuals)
  // The memory plan's switches: how the VAE runs (sliced, tiled), and for streamed networks
  // whether each is made resident whole for its phase (offload) instead of layer by layer.
  VaeRunOptions vae_options;
  bool hold_components = false;
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
// a mask, a refiner with a mask or ControlNets, denoising_end without a refiner, a ControlNet made
// for another UNet) and what the parts throw.
SdxlOutput run_sdxl(SdxlStage& base, SdxlStage* refiner, AutoencoderKL& vae, const SdxlRun& run,
                    at::Generator& generator, const StepCallback& on_step);

}  // namespace workers
