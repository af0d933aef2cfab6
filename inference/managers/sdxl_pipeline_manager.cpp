#include "inference/managers/sdxl_pipeline_manager.h"

#include <chrono>
#include <filesystem>
#include <new>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "conditioning/control_preprocessors.h"
#include "inference/workers/latents.h"
#include "inference/workers/sdxl_pipeline.h"
#include "postprocessing/image_codec.h"
#include "schedulers/managers/scheduler_factory.h"
#include "schedulers/managers/scheduler_name_table.h"
#include "utilities/error.h"
#include "utilities/path_roots.h"

namespace workers {
namespace {

constexpr const char* kImageRootsSetting = "workers.instructors.conditioning.image_roots";

nlohmann::json merged(nlohmann::json base, const nlohmann::json& over) {
  if (!base.is_object()) base = nlohmann::json::object();
  for (auto it = over.begin(); it != over.end(); ++it) base[it.key()] = it.value();
  return base;
}

// The model's scheduler_config.json < the named scheduler's settings < the request's options.
// `labels`: what A1111 and ComfyUI call the scheduler that results.
std::unique_ptr<Scheduler> make_scheduler(const SchedulerCatalog& catalog, const std::string& name,
                                          const nlohmann::json& model_config, const nlohmann::json& options,
                                          std::string* label, SamplerLabels* labels) {
  SchedulerChoice choice;
  if (name.empty()) {
    choice.class_name = model_config.value("_class_name", "");
  } else {
    choice = catalog.resolve(name);
  }
  *label = name.empty() ? choice.class_name : name;
  const auto config = merged(merged(model_config, choice.overrides), options);
  *labels = sampler_labels(choice.class_name, config);
  return SchedulerFactory().create(choice.class_name, config);
}

// A1111's short hashes: sha256 of a single-file checkpoint or VAE (10 hex digits). A diffusers
// folder has no file A1111 (or Civitai) would know it by, so it has none.
std::string model_hash(FileHashCache& hashes, const ModelHandle& model) {
  if (model.layout != ModelLayout::kSingleFile) return "";
  return hashes.file_sha256(model.path).substr(0, 10);
}

Image read_input(const std::vector<std::string>& roots, const std::string& reference, const std::string& field,
                 int channels, int width, int height) {
  const auto path = resolve_input_file(roots, reference, field, kImageRootsSetting);
  return resize_image(read_image_file(path, channels, field), width, height);
}

std::optional<std::string> optional_text(const std::string& text) {
  if (text.empty()) return std::nullopt;
  return text;
}

// The request's enabled adapters with their effective weights (weight × lora_scale; zero drops one).
std::vector<WeightedAdapter> lora_stack(const GenerationRequest& r, LoraManager& loras) {
  std::vector<WeightedAdapter> stack;
  for (std::size_t i = 0; i < r.loras.size(); ++i) {
    const auto& spec = r.loras[i];
    const double weight = spec.weight * r.lora_scale;
    if (!spec.enabled || weight == 0.0) continue;
    const std::string field = "loras[" + std::to_string(i) + "]";
    stack.push_back({loras.adapter(spec.name, field + ".name"), weight, field, spec.name});
  }
  return stack;
}

// Names a stack: file identity (path, size, time) and exact weight of each adapter, in order.
std::string stack_signature(const std::vector<WeightedAdapter>& stack, LoraManager& loras) {
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

// Which preprocessor a ControlNet gets: the one asked for; with no image of its own (the control
// map comes from init_image), the type when it names an OpenCV preprocessor.
std::string control_preprocessor(const ControlNetSpec& spec, const std::string& field) {
  if (!spec.preprocess.empty() || !spec.image.empty()) return spec.preprocess;
  if (is_computed_preprocessor(spec.type)) return spec.type;
  throw_invalid(field + ".image", "is required: a \"" + spec.type +
                                      "\" control map cannot be computed here (it needs a neural network); "
                                      "pass the map you computed as image");
}

struct PreparedControls {
  std::vector<ControlUnit> units;
  std::vector<std::string> models;          // as resolved, for the metadata
  std::vector<std::string> preprocessors;   // as chosen, for the metadata
  std::vector<std::shared_ptr<void>> held;  // the cache's pointers, held for the job
};

// Each ControlNet of the request: its model (named, or configured for its type) and its control
// map (its image, or init_image, resized to the output size, then preprocessed).
PreparedControls prepare_controls(const GenerationRequest& request, TorchModelManager& models,
                                  const PipelineSettings& settings) {
  PreparedControls out;
  for (std::size_t i = 0; i < request.controlnets.size(); ++i) {
    const auto& spec = request.controlnets[i];
    const std::string field = "controlnets[" + std::to_string(i) + "]";
    std::string reference = spec.model;
    if (reference.empty()) {
      auto it = settings.controlnet_models.find(spec.type);
      if (it == settings.controlnet_models.end()) {
        throw_invalid(field + ".type", "no ControlNet model is configured for type \"" + spec.type +
                                           "\" (workers.instructors.model.controlnet_models); name one as model");
      }
      reference = it->second;
    }
    const auto handle = models.open_controlnet(reference, field + ".model");
    auto net = models.controlnet(handle);
    out.held.push_back(net);
    const std::string preprocess = control_preprocessor(spec, field);
    const auto& source = spec.image.empty() ? request.init_image : spec.image;
    if (source.empty()) throw_invalid(field + ".image", "is required (or give init_image to compute the map from)");
    auto map = read_input(settings.image_roots, source, spec.image.empty() ? "init_image" : field + ".image", 3,
                          request.width, request.height);
    if (!preprocess.empty()) {
      map = preprocess_control_image(map, preprocess, {spec.threshold_a, spec.threshold_b}, field + ".preprocess");
    }
    out.units.push_back({*net, control_tensor(map), spec.scale, spec.start, spec.end});
    out.models.push_back(handle.reference);
    out.preprocessors.push_back(preprocess);
  }
  return out;
}

std::string pipeline_name(const GenerationRequest& r, const ModelHandle& base) {
  if (!r.mask_image.empty()) return base.kind == "sdxl-inpaint" ? "inpaint (9-channel)" : "inpaint";
  return r.init_image.empty() ? "text2img" : "img2img";
}

}  // namespace

SdxlPipelineManager::SdxlPipelineManager(std::shared_ptr<TorchModelManager> models,
                                         std::shared_ptr<const SchedulerCatalog> catalog, PipelineSettings settings)
    : models_(std::move(models)), catalog_(std::move(catalog)), settings_(std::move(settings)) {}

GenerationResult SdxlPipelineManager::generate(const GenerationRequest& request, const JobContext& context) {
  c10::InferenceMode inference_mode;
  const auto started = std::chrono::steady_clock::now();
  const std::uint64_t seed = request.seed.value_or(0);
  try {
    context.report({0, 0, "loading"});
    const ModelHandle base_model = models_->open(request.model.base, "model.base", request.model.config_from);
    if (base_model.kind == "sdxl-refiner") {
      throw_invalid("model.base", request.model.base + " is a refiner; name it as model.refiner with a base model");
    }
    const std::string scheduler_name = request.scheduler.empty() ? settings_.default_scheduler : request.scheduler;
    std::string scheduler_label;
    SamplerLabels labels;
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
    // Each expert gets the same scheduler name over its own scheduler config.
    auto make_stage = [&](const ModelHandle& model, std::string* label, SamplerLabels* stage_labels) {
      SdxlStage stage;
      auto unet = hold(models_->unet(model));
      auto encoders = hold(models_->text_encoders(model));
      stage.unet = *unet;
      stage.encoders = *encoders;
      auto& targets = base_targets.empty() ? base_targets : other_targets;
      targets.push_back({unet, adaptable(stage, false), "", nullptr});
      targets.push_back({encoders, adaptable(stage, true), "", nullptr});
      stage.force_zeros_for_empty_prompt = model.force_zeros_for_empty_prompt;
      stage.scheduler = make_scheduler(*catalog_, scheduler_name, models_->scheduler_config(model),
                                       request.scheduler_options, label, stage_labels);
      return stage;
    };
    SdxlStage base = make_stage(base_model, &scheduler_label, &labels);
    SdxlStage refiner;
    std::optional<ModelHandle> refiner_model;
    if (!request.model.refiner.empty()) {
      refiner_model = models_->open(request.model.refiner, "model.refiner");
      std::string same_label;
      SamplerLabels same_labels;
      refiner = make_stage(*refiner_model, &same_label, &same_labels);
    }
    const ModelHandle vae_model = request.model.vae.empty() ? base_model : models_->open_vae(request.model.vae, "model.vae");
    auto vae = hold(models_->vae(vae_model));

    const auto stack = lora_stack(request, models_->loras());
    LoraPlan plan;
    if (!stack.empty()) {
      AdaptableModules all = adaptable(base, false);
      all.merge(adaptable(base, true));
      plan = plan_lora_stack(stack, lora_target_index(all));
    }
    auto controls = prepare_controls(request, *models_, settings_);
    held.insert(held.end(), controls.held.begin(), controls.held.end());
    context.check_cancelled();

    SdxlRun run;
    run.prompts = {request.prompt, optional_text(request.prompt_2), optional_text(request.negative_prompt),
                   optional_text(request.negative_prompt_2)};
    run.prompt_options.clip_skip = request.clip_skip;
    run.prompt_options.clip_skip_style = request.clip_skip_style;
    run.width = request.width;
    run.height = request.height;
    run.steps = request.steps;
    run.batch = request.batch_size;
    run.guidance_scale = request.guidance_scale;
    run.guidance_rescale = request.guidance_rescale;
    run.strength = request.strength.value_or(request.mask_image.empty() ? 0.75 : 1.0);
    run.denoising_end = request.denoising_end;
    if (refiner_model && !run.denoising_end) run.denoising_end = settings_.default_refiner_switch;
    run.micro = micro_conditioning(request, request.height, request.width);
    if (!request.init_image.empty()) {
      run.init_image = image_tensor(
          read_input(settings_.image_roots, request.init_image, "init_image", 3, request.width, request.height));
    }
    if (!request.mask_image.empty()) {
      run.mask = mask_tensor(
          read_input(settings_.image_roots, request.mask_image, "mask_image", 1, request.width, request.height));
    }

    run.controls = std::move(controls.units);

    // Held until the job ends: no other stack is merged into these objects meanwhile.
    const std::string signature = stack_signature(stack, models_->loras());
    for (auto& target : base_targets) {
      target.signature = signature;
      target.plan = &plan;
    }
    base_targets.insert(base_targets.end(), other_targets.begin(), other_targets.end());
    const auto lora_lease = lora_gate_.acquire(base_targets, [&] { context.check_cancelled(); });
    // "per_image" (A1111): image i is a run of its own seeded seed + i, so it reproduces alone;
    // "shared" (diffusers, ComfyUI): one generator draws the whole batch.
    const bool per_image = request.batch_seeds == "per_image" && request.batch_size > 1;
    const int runs = per_image ? request.batch_size : 1;
    if (per_image) run.batch = 1;
    std::vector<std::uint64_t> seeds;
    std::vector<at::Tensor> images;
    SdxlOutput output;
    const auto denoising_started = std::chrono::steady_clock::now();
    for (int i = 0; i < runs; ++i) {
      seeds.push_back(seed + static_cast<std::uint64_t>(i));  // wraps past 2^64 - 1, as unsigned seeds do
      auto generator = at::make_generator<at::CPUGeneratorImpl>(seeds.back());
      output = run_sdxl(base, refiner_model ? &refiner : nullptr, *vae, run, generator, [&](int done, int total) {
        context.check_cancelled();
        const int all_done = i * total + done, all = runs * total;
        const double spent =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - denoising_started).count();
        // ETA from the denoising steps alone: model loading would make the first estimates wrong.
        context.report({all_done, all, "denoising", {{"eta", spent / all_done * (all - all_done)}}});
      });
      images.push_back(output.images);
    }
    context.report({1, 1, "decoding"});

    GenerationResult result;
    result.images = to_images(at::cat(images, 0));
    result.warnings = std::move(plan.warnings);
    result.warnings.insert(result.warnings.end(), output.warnings.begin(), output.warnings.end());
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
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
                       {"pipeline", pipeline_name(request, base_model)},
                       {"model", base_model.reference},
                       {"model_format", std::string(to_string(base_model.layout))},
                       {"prompt", request.prompt},
                       {"negative_prompt", request.negative_prompt}};
    auto& m = result.metadata;
    if (per_image) {
      m["batch_seeds"] = "per_image";
      m["seeds"] = seeds;
    }
    if (base_model.layout == ModelLayout::kSingleFile) {
      m["model_file"] = std::filesystem::path(base_model.path).filename().string();
      m["model_hash"] = model_hash(hashes_, base_model);
    }
    if (request.guidance_rescale > 0) m["guidance_rescale"] = request.guidance_rescale;
    if (!request.init_image.empty()) {
      m["strength"] = run.strength;
      m["init_image"] = request.init_image;
    }
    if (refiner_model) {
      m["refiner"] = refiner_model->reference;
      m["denoising_end"] = *run.denoising_end;
      if (const auto hash = model_hash(hashes_, *refiner_model); !hash.empty()) m["refiner_hash"] = hash;
    }
    if (!request.model.vae.empty()) {
      m["vae"] = request.model.vae;
      if (vae_model.layout == ModelLayout::kSingleFile) {
        m["vae_file"] = std::filesystem::path(vae_model.path).filename().string();
        m["vae_hash"] = model_hash(hashes_, vae_model);
      }
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
        m["controlnets"].push_back({{"model", controls.models[i]},
                                    {"type", spec.type},
                                    {"preprocess", controls.preprocessors[i]},
                                    {"scale", spec.scale},
                                    {"start", spec.start},
                                    {"end", spec.end}});
      }
    }
    result.data = {{"seed", seed}, {"generation_seconds", seconds}};
    return result;
  } catch (const Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw Error(ErrorCode::kOomError, "out of memory while generating; try a smaller size or batch");
  } catch (const c10::Error& e) {
    const std::string what = e.what_without_backtrace();
    if (what.find("out of memory") != std::string::npos || what.find("DefaultCPUAllocator") != std::string::npos) {
      throw Error(ErrorCode::kOomError, "out of memory while generating: " + what.substr(0, 300));
    }
    throw Error(ErrorCode::kInternalError, "tensor operation failed: " + what.substr(0, 500));
  }
}

}  // namespace workers
