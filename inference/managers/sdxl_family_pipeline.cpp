#include "inference/managers/sdxl_family_pipeline.h"

#include <chrono>
#include <filesystem>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "conditioning/prompt_encoder.h"
#include "conditioning/workers/image_tensors.h"
#include "inference/workers/latents.h"
#include "inference/workers/sdxl_pipeline.h"
#include "models/io/lora_format.h"
#include "models/nn/layers.h"
#include "models/nn/sdxl_text_encoders.h"
#include "models/nn/weight_stream.h"
#include "schedulers/managers/scheduler_factory.h"
#include "schedulers/managers/scheduler_name_table.h"
#include "utilities/error.h"

namespace workers {
namespace {

using Clock = std::chrono::steady_clock;

// A1111's short hashes: sha256 of a single-file checkpoint or VAE (10 hex digits). A diffusers
// folder has no file A1111 (or Civitai) would know it by, so it has none.
std::string model_hash(FileHashCache& hashes, const ModelHandle& model) {
  if (model.layout != ModelLayout::kSingleFile) return "";
  return hashes.file_sha256(model.path).substr(0, 10);
}

std::optional<std::string> optional_text(const std::string& text) {
  if (text.empty()) return std::nullopt;
  return text;
}

// Names a stack: file identity (path, size, time) and exact weight of each adapter, in order.
std::string stack_signature(const std::vector<WeightedAdapter>& stack, const LoraManager& loras) {
  std::string signature;
  char weight[32];
  for (const auto& item : stack) {
    std::snprintf(weight, sizeof weight, "%.17g", item.weight);
    signature += loras.key(item.adapter->path) + "*" + weight + ";";
  }
  return signature;
}

AdaptableModules adaptable(const SdxlStage& stage, bool text) {
  if (!text) return {{"unet", stage.unet.ptr().get()}};
  AdaptableModules modules;
  if (!stage.encoders.text_encoder.is_empty()) modules["text_encoder"] = stage.encoders.text_encoder.ptr().get();
  modules["text_encoder_2"] = stage.encoders.text_encoder_2.ptr().get();
  return modules;
}

// A1111's latent upscale modes (shared.latent_upscale_modes): F.interpolate's mode and antialias.
struct LatentMode {
  const char* name;
  torch::nn::functional::InterpolateFuncOptions::mode_t mode;
  bool antialias;
  bool nearest;  // nearest modes take no align_corners
};
const LatentMode* latent_mode(const std::string& upscaler) {
  static const LatentMode kModes[] = {{"Latent", torch::kBilinear, false, false},
                                      {"Latent (antialiased)", torch::kBilinear, true, false},
                                      {"Latent (bicubic)", torch::kBicubic, false, false},
                                      {"Latent (bicubic antialiased)", torch::kBicubic, true, false},
                                      {"Latent (nearest)", torch::kNearest, false, true},
                                      {"Latent (nearest-exact)", torch::kNearestExact, false, true}};
  for (const auto& m : kModes) {
    if (upscaler == m.name) return &m;
  }
  return nullptr;
}

at::Tensor upscale_latents(const at::Tensor& latents, const LatentMode& mode, std::int64_t height, std::int64_t width) {
  auto options = torch::nn::functional::InterpolateFuncOptions()
                     .size(std::vector<std::int64_t>{height, width})
                     .mode(mode.mode)
                     .antialias(mode.antialias);
  if (!mode.nearest) options.align_corners(false);
  return torch::nn::functional::interpolate(latents, options);
}

// Denoising steps for img2img so that `steps` of them run at `strength` (A1111 runs the hires
// pass as steps / strength with t_enc = steps - 1: exactly `steps` denoising steps).
std::int64_t img2img_schedule(int steps, double strength) {
  auto total = static_cast<std::int64_t>(std::ceil(steps / strength - 1e-9));
  while (static_cast<std::int64_t>(total * strength) < steps) ++total;
  return total;
}

// The batch manager's chunks, each cut into runs of at most `max_chunk` images (the memory plan's
// batch split): every piece still draws for the whole batch, so the images are the same.
std::vector<BatchChunk> split_chunks(const std::vector<BatchChunk>& chunks, int max_chunk) {
  if (max_chunk <= 0) return chunks;
  std::vector<BatchChunk> out;
  for (const auto& chunk : chunks) {
    const int draw = chunk.draw_batch > 0 ? chunk.draw_batch : chunk.size;
    for (int k = 0; k < chunk.size; k += max_chunk) {
      out.push_back({chunk.seed, chunk.offset + k, std::min(max_chunk, chunk.size - k), draw});
    }
  }
  return out;
}

std::string pipeline_name(const GenerationRequest& r, const ModelHandle& base) {
  if (!r.mask_image.empty()) return base.kind == ModelKind::kSdxlInpaint ? "inpaint (9-channel)" : "inpaint";
  return r.init_image.empty() ? "text2img" : "img2img";
}

}  // namespace

SdxlFamilyPipeline::SdxlFamilyPipeline(ModelManagers models, std::shared_ptr<ConditioningManager> conditioning,
                                       SdxlPipelineSettings settings, std::shared_ptr<UpscalerManager> upscalers)
    : models_(std::move(models)),
      conditioning_(std::move(conditioning)),
      settings_(settings),
      upscalers_(std::move(upscalers)) {}

GenerationResult SdxlFamilyPipeline::run(const JobPlan& plan, const JobContext& context) {
  c10::InferenceMode inference_mode;
  const auto started = Clock::now();
  const GenerationRequest& request = plan.request;
  const ResolvedModels& resolved = *plan.models;
  const MemoryPlan& memory = plan.memory;
  const Residency residency = memory.streamed ? Residency::kStreamed : Residency::kResident;
  const std::uint64_t seed = request.seed.value_or(0);
  context.report({0, 0, "loading"});
  // The cache's pointers are held for the whole job: that is how the cache knows these
  // components are in use and must not be evicted (the stages copy the module holders).
  std::vector<std::shared_ptr<void>> held;
  auto hold = [&held](auto pointer) {
    held.push_back(pointer);
    return pointer;
  };
  // Every UNet and text-encoder object the job runs goes through the LoRA gate: the base with
  // the request's stack, a refiner with none.
  std::vector<LoraGate::Target> base_targets, other_targets;
  const SchedulerFactory schedulers;
  SamplerLabels labels;
  // Each expert gets the decided scheduler over its own scheduler config.
  std::string class_name;  // the base's scheduler class
  auto make_stage = [&](const ModelHandle& model, SamplerLabels* stage_labels) {
    SdxlStage stage;
    auto unet = hold(models_.unet->unet(model, residency));
    auto encoders = hold(models_.text_encoders->text_encoders(model, residency));
    // The plan's attention slicing, set on the cached network for this job (every job sets it).
    set_attention_slice(*unet->ptr(), memory.attention_slice);
    stage.unet = *unet;
    stage.encoders = *encoders;
    auto& targets = base_targets.empty() ? base_targets : other_targets;
    targets.push_back({unet, adaptable(stage, false), "", nullptr});
    targets.push_back({encoders, adaptable(stage, true), "", nullptr});
    stage.force_zeros_for_empty_prompt = model.force_zeros_for_empty_prompt;
    auto built = schedulers.build(plan.scheduler.choice, models_.resolver->scheduler_config(model),
                                  request.scheduler_options);
    if (stage_labels) {
      *stage_labels = sampler_labels(built.class_name, built.config);
      class_name = built.class_name;
    }
    stage.scheduler = std::move(built.scheduler);
    return stage;
  };
  SdxlStage base = make_stage(resolved.base, &labels);
  const std::string scheduler_label = plan.scheduler.label.empty() ? class_name : plan.scheduler.label;
  SdxlStage refiner;
  if (resolved.refiner) refiner = make_stage(*resolved.refiner, nullptr);
  auto vae = hold(models_.vae->vae(resolved.vae));

  std::vector<WeightedAdapter> stack;
  for (const auto& lora : resolved.loras) {
    stack.push_back({models_.loras->adapter_at(lora.path, lora.name, lora.field + ".name"), lora.weight, lora.field,
                     lora.name});
  }
  LoraPlan lora_plan;
  if (!stack.empty()) {
    AdaptableModules all = adaptable(base, false);
    all.merge(adaptable(base, true));
    lora_plan = plan_lora_stack(stack, lora_target_index(all));
  }
  SdxlRun run;
  for (std::size_t i = 0; i < resolved.controls.size(); ++i) {
    const auto& control = resolved.controls[i];
    const std::string field = "controlnets[" + std::to_string(i) + "]";
    auto net = hold(models_.controlnets->controlnet(control.model));
    set_attention_slice(*net->ptr(), memory.attention_slice);
    const auto& spec = request.controlnets[i];
    run.controls.push_back({*net,
                            conditioning_->control_image(control.image, control.image_field, control.preprocess, spec,
                                                         field, request.width, request.height),
                            spec.scale, spec.start, spec.end});
  }
  context.check_cancelled();

  run.prompts = {request.prompt, optional_text(request.prompt_2), optional_text(request.negative_prompt),
                 optional_text(request.negative_prompt_2)};
  run.prompt_options.hidden_state_index = plan.conditioning.clip_hidden_index;
  run.prompt_encoder = conditioning_.get();
  run.width = request.width;
  run.height = request.height;
  run.steps = request.steps;
  run.guidance_scale = request.guidance_scale;
  run.guidance_rescale = request.guidance_rescale;
  run.strength = request.strength.value_or(request.mask_image.empty() ? 0.75 : 1.0);
  run.denoising_end = request.denoising_end;
  if (resolved.refiner && !run.denoising_end) run.denoising_end = settings_.default_refiner_switch;
  run.micro = micro_conditioning(request, request.height, request.width);
  run.vae_options.sliced = memory.vae_sliced;
  run.vae_options.tiled = memory.vae_tiled;
  run.vae_options.tile_sample_size = memory.vae_tile;
  run.hold_components = memory.hold_components;
  if (!request.init_image.empty()) {
    run.init_image = conditioning_->init_image(request.init_image, "init_image", request.width, request.height);
  }
  if (!request.mask_image.empty()) {
    run.mask = conditioning_->mask_image(request.mask_image, "mask_image", request.width, request.height);
  }

  // The hires fix: a second img2img pass at the larger size, from the first pass's latents
  // (latent modes) or its upscaled pixels, drawn from a generator seeded as the first pass's.
  std::optional<SdxlRun> hires;
  const LatentMode* hires_latent = nullptr;
  std::shared_ptr<ImageUpscaler> hires_upscaler;
  if (request.hires) {
    const HiresFix& fix = *request.hires;
    hires = run;
    hires->width = hires_size(request.width, fix.scale);
    hires->height = hires_size(request.height, fix.scale);
    hires->steps = img2img_schedule(fix.steps > 0 ? fix.steps : request.steps, fix.strength);
    hires->strength = fix.strength;
    hires->micro = micro_conditioning(request, static_cast<int>(hires->height), static_cast<int>(hires->width));
    for (std::size_t i = 0; i < hires->controls.size(); ++i) {
      const auto& control = resolved.controls[i];
      hires->controls[i].image =
          conditioning_->control_image(control.image, control.image_field, control.preprocess, request.controlnets[i],
                                       "controlnets[" + std::to_string(i) + "]", static_cast<int>(hires->width),
                                       static_cast<int>(hires->height));
    }
    hires_latent = latent_mode(fix.upscaler);
    if (!hires_latent) {
      if (!upscalers_) throw_invalid("hires_upscaler", "this worker has only the latent upscalers");
      hires_upscaler = upscalers_->upscaler(fix.upscaler, -1, "hires_upscaler");
    }
    run.decode = hires_upscaler != nullptr;  // a latent pass goes on from the latents alone
  }

  // Held until the job ends: no other stack is merged into these objects meanwhile.
  const std::string signature = stack_signature(stack, *models_.loras);
  for (auto& target : base_targets) {
    target.signature = signature;
    target.plan = &lora_plan;
  }
  base_targets.insert(base_targets.end(), other_targets.begin(), other_targets.end());
  const auto lora_lease = lora_gate_.acquire(base_targets, [&] { context.check_cancelled(); });

  // The batch manager's chunks: each a run of its own generator.
  std::vector<at::Tensor> images;
  SdxlOutput output;
  const std::vector<BatchChunk> chunks = split_chunks(plan.chunks, memory.max_chunk);
  const int runs = static_cast<int>(chunks.size());
  const auto denoising_started = Clock::now();
  for (int i = 0; i < runs; ++i) {
    const BatchChunk& chunk = chunks[static_cast<std::size_t>(i)];
    run.batch = chunk.size;
    run.noise_window = {chunk.offset, chunk.draw_batch};
    // run_sdxl sets each scheduler's timesteps, which resets its state: one object serves every run.
    auto generator = at::make_generator<at::CPUGeneratorImpl>(chunk.seed);
    output = run_sdxl(base, resolved.refiner ? &refiner : nullptr, *vae, run, generator, [&](int done, int total) {
      context.check_cancelled();
      const int all_done = i * total + done, all = runs * total;
      const double spent = std::chrono::duration<double>(Clock::now() - denoising_started).count();
      // ETA from the denoising steps alone: model loading would make the first estimates wrong.
      context.report({all_done, all, "denoising", {{"eta", spent / all_done * (all - all_done)}}});
    });
    if (hires) {
      context.check_cancelled();
      SdxlRun& second = *hires;
      second.batch = chunk.size;
      second.noise_window = run.noise_window;
      // A1111 draws the second pass's noise from the same seeds as the first.
      auto hires_generator = at::make_generator<at::CPUGeneratorImpl>(chunk.seed);
      const NoiseWindow window{chunk.offset, chunk.draw_batch > 0 ? chunk.draw_batch : chunk.size};
      const auto target = compute_options(*base.unet);
      const auto factor = (*vae)->config().downscale_factor();
      if (hires_latent) {
        second.init_latents = upscale_latents(output.latents, *hires_latent, second.height / factor, second.width / factor);
      } else {
        std::vector<at::Tensor> upscaled;
        for (const auto& image : to_images(output.images)) {
          context.check_cancelled();
          upscaled.push_back(image_tensor(hires_upscaler->upscale(image, static_cast<int>(second.width),
                                                                   static_cast<int>(second.height))));
        }
        second.init_latents = encode_image_latents(*vae, at::cat(upscaled, 0), hires_generator, target, window,
                                                   run.vae_options);
      }
      const auto hires_started = Clock::now();
      output = run_sdxl(base, nullptr, *vae, second, hires_generator, [&](int done, int total) {
        context.check_cancelled();
        const int all_done = i * total + done, all = runs * total;
        const double spent = std::chrono::duration<double>(Clock::now() - hires_started).count();
        context.report({all_done, all, "hires", {{"eta", spent / all_done * (all - all_done)}}});
      });
    }
    images.push_back(output.images);
  }
  context.report({1, 1, "decoding"});

  GenerationResult result;
  result.images = to_images(at::cat(images, 0));
  result.warnings = std::move(lora_plan.warnings);
  result.warnings.insert(result.warnings.end(), output.warnings.begin(), output.warnings.end());
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  // "shared": every image comes from the one generator seeded with `seed` (diffusers' order of
  // draws), so the seed is the batch's and batch_size with each asset's batch_index says how to
  // get an image again. "per_image": `seeds` holds each image's own seed.
  result.metadata = {{"seed", seed},
                     {"batch_size", request.batch_size},
                     {"steps", request.steps},
                     {"guidance_scale", request.guidance_scale},
                     {"scheduler", scheduler_label},
                     {"sampler", labels.a1111_sampler},
                     {"schedule_type", labels.a1111_schedule},
                     {"comfyui_sampler", labels.comfyui_sampler},
                     {"comfyui_scheduler", labels.comfyui_scheduler},
                     {"pipeline", pipeline_name(request, resolved.base)},
                     // The size generated at: PNG info's "Size" (A1111 writes the first pass's size
                     // beside "Hires upscale", and keeps it when Extras upscales the file).
                     {"size", {request.width, request.height}},
                     {"model", resolved.base.reference},
                     {"model_format", std::string(to_string(resolved.base.layout))},
                     {"prompt", request.prompt},
                     {"negative_prompt", request.negative_prompt}};
  auto& m = result.metadata;
  const bool per_image = request.batch_seeds == "per_image" && request.batch_size > 1;
  if (per_image) {
    m["batch_seeds"] = "per_image";
    m["seeds"] = nlohmann::json::array();
    for (const auto& chunk : plan.chunks) m["seeds"].push_back(chunk.seed);
  }
  if (resolved.base.layout == ModelLayout::kSingleFile) {
    m["model_file"] = std::filesystem::path(resolved.base.path).filename().string();
    m["model_hash"] = model_hash(hashes_, resolved.base);
  }
  if (request.guidance_rescale > 0) m["guidance_rescale"] = request.guidance_rescale;
  if (!request.init_image.empty()) {
    m["strength"] = run.strength;
    m["init_image"] = request.init_image;
  }
  if (resolved.refiner) {
    m["refiner"] = resolved.refiner->reference;
    m["denoising_end"] = *run.denoising_end;
    if (const auto hash = model_hash(hashes_, *resolved.refiner); !hash.empty()) m["refiner_hash"] = hash;
  }
  if (!request.model.vae.empty()) {
    m["vae"] = request.model.vae;
    if (resolved.vae.layout == ModelLayout::kSingleFile) {
      m["vae_file"] = std::filesystem::path(resolved.vae.path).filename().string();
      m["vae_hash"] = model_hash(hashes_, resolved.vae);
    }
  }
  if (request.hires) {
    const HiresFix& fix = *request.hires;
    m["hires"] = {{"scale", fix.scale},
                  {"steps", fix.steps},
                  {"strength", fix.strength},
                  {"upscaler", hires_upscaler ? hires_upscaler->name() : fix.upscaler},
                  {"first_pass_size", {request.width, request.height}},
                  {"size", {hires->width, hires->height}}};
  }
  if (request.clip_skip) {
    m["clip_skip"] = *request.clip_skip;
    m["clip_skip_style"] = request.clip_skip_style;
  }
  if (!stack.empty()) {
    m["loras"] = nlohmann::json::array();
    for (const auto& item : stack) {
      const std::string& path = item.adapter->path;
      m["loras"].push_back({{"name", item.name},
                            {"weight", item.weight},
                            {"file", std::filesystem::path(path).filename().string()},
                            {"hash", hashes_.lora_sha256(path).substr(0, 12)}});
    }
  }
  if (!request.controlnets.empty()) {
    m["controlnets"] = nlohmann::json::array();
    for (std::size_t i = 0; i < request.controlnets.size(); ++i) {
      const auto& spec = request.controlnets[i];
      m["controlnets"].push_back({{"model", resolved.controls[i].model.reference},
                                  {"type", spec.type},
                                  {"preprocess", resolved.controls[i].preprocess},
                                  {"scale", spec.scale},
                                  {"start", spec.start},
                                  {"end", spec.end}});
    }
  }
  result.data = {{"seed", seed}, {"generation_seconds", seconds}};
  return result;
}

}  // namespace workers
