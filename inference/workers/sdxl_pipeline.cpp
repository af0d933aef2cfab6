#include "inference/workers/sdxl_pipeline.h"

#include <torch/torch.h>

#include "inference/workers/latents.h"
#include "models/nn/weight_stream.h"
#include "schedulers/timestep_window.h"
#include "utilities/error.h"

namespace workers {
namespace {

struct StageConditioning {
  at::Tensor context;      // [B or 2B, tokens, dim] (negative half first under CFG)
  at::Tensor text_embeds;  // pooled
  at::Tensor time_ids;
};

// diffusers' encode_prompt + _get_add_time_ids, repeated per image. Under CFG the batch is
// [negatives × B, positives × B]; diffusers repeats the time ids as [neg, pos] × B, which pairs
// them differently only when negative and positive micro-conditioning differ and B > 1.
StageConditioning condition(SdxlStage& stage, const SdxlRun& run, bool cfg, const at::TensorOptions& target,
                            std::vector<std::string>& warnings) {
  // Offload: the encoders are resident only while they encode.
  WeightStream::Hold first, second;
  if (run.hold_components) {
    if (!stage.encoders.text_encoder.is_empty()) first = WeightStream::hold(*stage.encoders.text_encoder);
    second = WeightStream::hold(*stage.encoders.text_encoder_2);
  }
  PromptOptions options = run.prompt_options;
  options.force_zeros_for_empty_prompt = stage.force_zeros_for_empty_prompt;
  auto encoded = run.prompt_encoder ? run.prompt_encoder->encode(stage.encoders, run.prompts, options)
                                    : encode_prompts(stage.encoders, run.prompts, options);
  warnings.insert(warnings.end(), encoded.warnings.begin(), encoded.warnings.end());
  const auto ids = sdxl_time_ids(stage.unet->config(), encoded.positive.pooled.size(-1), run.micro);
  const std::int64_t b = run.batch;
  auto both = [&](const at::Tensor& negative, const at::Tensor& positive, bool sequence) {
    auto rep = [&](const at::Tensor& t) { return sequence ? t.repeat({b, 1, 1}) : t.repeat({b, 1}); };
    auto out = cfg ? torch::cat({rep(negative), rep(positive)}, 0) : rep(positive);
    return out.to(target.device(), target.dtype());
  };
  return {both(encoded.negative.embeds, encoded.positive.embeds, true),
          both(encoded.negative.pooled, encoded.positive.pooled, false), both(ids.negative, ids.positive, false)};
}

// diffusers' rescale_noise_cfg (Lin et al., "Common Diffusion Noise Schedules and Sample Steps
// are Flawed", section 3.4).
at::Tensor rescale_noise_cfg(const at::Tensor& guided, const at::Tensor& text, double phi) {
  std::vector<std::int64_t> dims;
  for (std::int64_t d = 1; d < guided.dim(); ++d) dims.push_back(d);
  auto std_text = text.std(dims, /*unbiased=*/true, /*keepdim=*/true);
  auto std_cfg = guided.std(dims, /*unbiased=*/true, /*keepdim=*/true);
  auto rescaled = guided * (std_text / std_cfg);
  return phi * rescaled + (1.0 - phi) * guided;
}

// Inpainting inputs of the denoising loop.
struct InpaintLatents {
  at::Tensor mask;                  // latent-size mask, doubled under CFG (9-channel input)
  at::Tensor masked_image_latents;  // doubled under CFG (9-channel input)
  at::Tensor blend_mask;            // [B, 1, h, w] (4-channel blending)
  at::Tensor image_latents;         // [B, 4, h, w] (4-channel blending)
  at::Tensor noise;                 // the initial noise (4-channel blending)
};

struct Progress {
  int done = 0;
  int total = 0;
  const StepCallback& on_step;
  void tick() {
    ++done;
    if (on_step) on_step(done, total);
  }
};

// The ControlNets' summed residuals for step i of n (nullopt: none acts at this step). Each net
// sees the UNet's 4-channel scaled input, timestep and conditioning, as in diffusers.
std::optional<ControlResiduals> control_residuals(std::vector<ControlUnit>& units,
                                                  const std::vector<at::Tensor>& images, std::int64_t i,
                                                  std::int64_t n, const at::Tensor& input, const at::Tensor& timestep,
                                                  const StageConditioning& c) {
  std::optional<ControlResiduals> sum;
  for (std::size_t u = 0; u < units.size(); ++u) {
    const double scale = units[u].scale * control_keep(i, n, units[u].start, units[u].end);
    if (scale == 0.0) continue;  // diffusers runs it and adds zeros; skipping changes nothing
    auto r = units[u].net->forward(input, timestep, c.context, images[u], scale, c.text_embeds, c.time_ids);
    if (!sum) {
      sum = std::move(r);
      continue;
    }
    for (std::size_t k = 0; k < r.down.size(); ++k) sum->down[k] = sum->down[k] + r.down[k];
    sum->mid = sum->mid + r.mid;
  }
  return sum;
}

at::Tensor denoise(SdxlStage& stage, const StageConditioning& c, at::Tensor latents, const at::Tensor& timesteps,
                   const SdxlRun& run, bool cfg, const InpaintLatents* inpaint, std::vector<ControlUnit> controls,
                   at::Generator& generator, Progress& progress) {
  Scheduler& scheduler = *stage.scheduler;
  const bool nine_channels = stage.unet->config().in_channels == 9;
  const auto n = timesteps.size(0);
  // Offload: the UNet is resident for the whole loop, parked again after it.
  const auto unet_hold = run.hold_components ? WeightStream::hold(*stage.unet) : WeightStream::Hold();
  // Control images per model input: repeated per image, doubled under CFG.
  std::vector<at::Tensor> control_images;
  for (const auto& unit : controls) {
    auto image = unit.image.to(latents.device(), latents.scalar_type()).repeat({run.batch, 1, 1, 1});
    control_images.push_back(cfg ? torch::cat({image, image}, 0) : image);
  }
  for (std::int64_t i = 0; i < n; ++i) {
    const double t = timesteps[i].item<double>();
    auto input = cfg ? torch::cat({latents, latents}, 0) : latents;
    input = scheduler.scale_model_input(input, t);
    auto timestep = torch::full({input.size(0)}, t, input.options().dtype(torch::kFloat));
    const auto control = control_residuals(controls, control_images, i, n, input, timestep, c);
    if (nine_channels) input = torch::cat({input, inpaint->mask, inpaint->masked_image_latents}, 1);
    auto noise_pred = stage.unet->forward(input, timestep, c.context, c.text_embeds, c.time_ids,
                                          control ? &*control : nullptr);
    if (cfg) noise_pred = apply_guidance(noise_pred, run.guidance_scale, run.guidance_rescale);
    latents = scheduler.step(noise_pred, t, latents, &generator).prev_sample;
    if (inpaint && !nine_channels) {
      auto proper = inpaint->image_latents;
      if (i + 1 < n) proper = scheduler.add_noise(proper, inpaint->noise, timesteps[i + 1].item<double>());
      latents = (1 - inpaint->blend_mask) * proper + inpaint->blend_mask * latents;
    }
    progress.tick();
  }
  return latents;
}

void check_combination(const SdxlStage& base, const SdxlStage* refiner, const SdxlRun& run) {
  const auto in = base.unet->config().in_channels;
  if (in != 4 && in != 9) {
    throw_invalid("model.base", "a UNet with " + std::to_string(in) + " input channels is neither SDXL nor SDXL inpainting");
  }
  if (in == 9 && !run.mask.defined()) {
    throw_invalid("mask_image", "the model is an inpainting model (9-channel UNet): it needs init_image and mask_image");
  }
  if (run.mask.defined() && !run.init_image.defined()) throw_invalid("mask_image", "needs init_image");
  if (refiner && run.mask.defined()) {
    throw_invalid("model.refiner", "a refiner cannot be combined with inpainting (mask_image) yet");
  }
  if (refiner && !run.denoising_end) throw_invalid("denoising_end", "is needed to hand over to the refiner");
  if (!refiner && run.denoising_end) {
    throw_invalid("denoising_end", "stops the base model early for a refiner, but model.refiner is not set");
  }
  if (refiner && !run.controls.empty()) {
    throw_invalid("controlnets", "ControlNets act on the base model only and cannot be combined with a refiner yet");
  }
  for (std::size_t i = 0; i < run.controls.size(); ++i) {
    const auto& net = run.controls[i].net->config();
    const auto& unet = base.unet->config();
    if (net.block_out_channels != unet.block_out_channels || net.cross_attention_dim != unet.cross_attention_dim ||
        net.text_time_embedding != unet.text_time_embedding) {
      throw_invalid("controlnets[" + std::to_string(i) + "].model",
                    "this ControlNet was made for another UNet (its blocks or text conditioning differ from "
                    "model.base's); use an SDXL ControlNet");
    }
  }
  if (refiner && refiner->unet->config().in_channels != 4) {
    throw_invalid("model.refiner", "the refiner's UNet must take 4 latent channels");
  }
  if (run.width % 8 != 0 || run.height % 8 != 0) throw_invalid("width", "width and height must be multiples of 8");
}

}  // namespace

double control_keep(std::int64_t i, std::int64_t n, double start, double end) {
  const double from = static_cast<double>(i) / static_cast<double>(n);
  const double to = static_cast<double>(i + 1) / static_cast<double>(n);
  return (from < start || to > end) ? 0.0 : 1.0;
}

at::Tensor apply_guidance(const at::Tensor& noise_pred, double guidance_scale, double rescale) {
  auto halves = noise_pred.chunk(2, 0);
  auto guided = halves[0] + guidance_scale * (halves[1] - halves[0]);
  return rescale > 0.0 ? rescale_noise_cfg(guided, halves[1], rescale) : guided;
}

SdxlOutput run_sdxl(SdxlStage& base, SdxlStage* refiner, AutoencoderKL& vae, const SdxlRun& run,
                    at::Generator& generator, const StepCallback& on_step) {
  check_combination(base, refiner, run);
  SdxlOutput out;
  const auto target = compute_options(*base.unet);
  const bool cfg = run.guidance_scale > 1.0;
  const bool img2img = run.init_image.defined() || run.init_latents.defined();
  const bool inpaint = run.mask.defined();
  const bool nine_channels = base.unet->config().in_channels == 9;
  const auto factor = vae->config().downscale_factor();
  const std::vector<std::int64_t> shape{run.batch, vae->config().latent_channels, run.height / factor,
                                        run.width / factor};

  // A chunk draws for the whole batch and keeps its own images (see SdxlRun::noise_window).
  const NoiseWindow window_of_batch{run.noise_window.offset,
                                    run.noise_window.total > 0 ? run.noise_window.total : run.batch};
  auto batch_noise = [&](at::Generator& g) {
    auto full = shape;
    full[0] = window_of_batch.total;
    return draw_latent_noise(full, g, target).narrow(0, window_of_batch.offset, run.batch);
  };
  base.scheduler->set_noise_window(window_of_batch);
  if (refiner) refiner->scheduler->set_noise_window(window_of_batch);

  // Schedules first, so progress knows the total number of model calls.
  Scheduler& scheduler = *base.scheduler;
  const auto window = select_timesteps(scheduler, run.steps, img2img ? run.strength : 1.0, std::nullopt,
                                       refiner ? run.denoising_end : std::nullopt);
  if (img2img) scheduler.set_begin_index(window.begin_index);  // diffusers' get_timesteps always sets it
  TimestepWindow refiner_window;
  if (refiner) refiner_window = select_timesteps(*refiner->scheduler, run.steps, 1.0, run.denoising_end, std::nullopt);
  Progress progress{0, static_cast<int>(window.timesteps.size(0) + (refiner ? refiner_window.timesteps.size(0) : 0)),
                    on_step};

  const auto conditioning = condition(base, run, cfg, target, out.warnings);
  at::Tensor latents;
  InpaintLatents inpaint_latents;
  if (!img2img) {
    latents = batch_noise(generator) * scheduler.init_noise_sigma();
  } else if (!inpaint) {
    auto image_latents = run.init_latents.defined()
                             ? run.init_latents.to(target.device(), target.dtype())
                             : encode_image_latents(vae, run.init_image, generator, target, {}, run.vae_options).repeat({run.batch, 1, 1, 1});
    auto noise = batch_noise(generator);
    latents = scheduler.add_noise(image_latents, noise, window.timesteps[0].item<double>());
  } else {
    // diffusers' prepare_latents, then prepare_mask_latents, with their draws in that order.
    const bool strength_max = run.strength == 1.0;
    at::Tensor image_latents;
    if (!nine_channels || !strength_max) {
      image_latents = encode_image_latents(vae, run.init_image, generator, target, {}, run.vae_options).repeat({run.batch, 1, 1, 1});
    }
    auto noise = batch_noise(generator);
    latents = strength_max ? noise * scheduler.init_noise_sigma()
                           : scheduler.add_noise(image_latents, noise, window.timesteps[0].item<double>());
    auto mask = torch::nn::functional::interpolate(
                    run.mask, torch::nn::functional::InterpolateFuncOptions()
                                  .size(std::vector<std::int64_t>{shape[2], shape[3]})
                                  .mode(torch::kNearest))
                    .to(target.device(), target.dtype())
                    .repeat({run.batch, 1, 1, 1});
    const auto masked_image = run.init_image * (run.mask < 0.5);
    if (nine_channels) {
      auto masked = encode_image_latents(vae, masked_image, generator, target, {}, run.vae_options).repeat({run.batch, 1, 1, 1});
      inpaint_latents.mask = cfg ? torch::cat({mask, mask}, 0) : mask;
      inpaint_latents.masked_image_latents = cfg ? torch::cat({masked, masked}, 0) : masked;
    } else {
      // diffusers VAE-encodes the masked image here too, though a 4-channel UNet never reads it;
      // only its sample draw matters (to the generator's later state), so draw without encoding.
      draw_latent_noise({1, shape[1], shape[2], shape[3]}, generator, target);
      inpaint_latents.blend_mask = mask;
      inpaint_latents.image_latents = image_latents;
      inpaint_latents.noise = noise;
    }
  }
  latents = denoise(base, conditioning, latents, window.timesteps, run, cfg, inpaint ? &inpaint_latents : nullptr,
                    run.controls, generator, progress);
  if (refiner) {
    // The refiner continues from the base's latents (denoising_start: no noise is added).
    out.handover_latents = latents;
    const auto refiner_conditioning = condition(*refiner, run, cfg, target, out.warnings);
    latents = denoise(*refiner, refiner_conditioning, latents, refiner_window.timesteps, run, cfg, nullptr, {},
                      generator, progress);
  }
  out.latents = latents;
  if (run.decode) out.images = decode_latents(vae, latents, run.vae_options);
  return out;
}

}  // namespace workers
