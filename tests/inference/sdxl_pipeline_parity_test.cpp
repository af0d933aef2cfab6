// Parity of the SDXL pipelines with diffusers 0.30.3 (tests/fixtures/pipelines.json and
// pipelines.safetensors): final latents and [0, 1] images within 1e-3 max abs, the bound the
// fixtures' README gives for end-to-end runs (fp32 CPU; the references come from fp16-rounded
// weights computed in fp32, so the remaining error is summation order, measured ~1e-5).
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include "conditioning/workers/image_tensors.h"
#include "conditioning/workers/input_images.h"
#include "inference/workers/latents.h"
#include "inference/workers/lora_merge.h"
#include "inference/workers/sdxl_pipeline.h"
#include "models/managers/torch_model_managers.h"
#include "models/nn/sdxl_text_encoders.h"
#include "schedulers/managers/scheduler_factory.h"
#include "support/tensor_checks.h"

namespace workers {
namespace {

using testing_support::fixture;
using testing_support::max_abs_diff;
using testing_support::Reference;

constexpr double kTolerance = 1e-3;

struct Case {
  explicit Case(std::string k) : key(std::move(k)) {}
  std::string key;
  std::string base = "tiny-sdxl";
  std::string scheduler = "EulerDiscreteScheduler";
  nlohmann::json overrides = nlohmann::json::object();
  int steps = 4;
  int batch = 1;
  double guidance_rescale = 0.0;
  double strength = 1.0;
  bool init_image = false;
  bool mask = false;
  std::optional<SizePair> original_size;
  SizePair crops{0, 0};
  std::string refiner;
  std::optional<double> denoising_end;
  std::string prompt = "a photo of an astronaut riding a horse on mars";
  std::string lora;     // a file under fixtures/loras, merged at weight 0.8 for the run
  bool control = false;  // tiny-controlnet on input.control_uint8, scale 0.7, guidance end 0.8
};

// The adaptable modules of a stage, as the pipeline manager hands them to the LoRA gate.
AdaptableModules adaptable(const SdxlStage& s) {
  return {{"unet", s.unet.ptr().get()},
          {"text_encoder", s.encoders.text_encoder.ptr().get()},
          {"text_encoder_2", s.encoders.text_encoder_2.ptr().get()}};
}

class SdxlPipelineParity : public ::testing::Test {
 protected:
  static const TorchModelManagers& models() {
    static const TorchModelManagers managers = [] {
      ModelConfig config;
      config.model_roots = {SDXL_FIXTURES_DIR};
      config.lora_roots = {fixture("loras")};
      config.controlnet_roots = {SDXL_FIXTURES_DIR};
      return make_torch_model_managers(config, "cpu", "float32", SDXL_DATA_DIR, std::make_shared<ModelCache>(nullptr));
    }();
    return managers;
  }

  static SdxlStage stage(const std::string& name, const std::string& scheduler, const nlohmann::json& overrides) {
    const auto& m = models();
    const auto handle = m.loader->open(name, "model");
    SdxlStage s;
    s.unet = *m.unet->unet(handle);
    s.encoders = *m.text_encoders->text_encoders(handle);
    s.force_zeros_for_empty_prompt = handle.force_zeros_for_empty_prompt;
    auto config = m.loader->scheduler_config(handle);
    for (auto it = overrides.begin(); it != overrides.end(); ++it) config[it.key()] = it.value();
    s.scheduler = SchedulerFactory().create(scheduler, config);
    return s;
  }

  static SdxlOutput run(const Case& c) {
    SdxlStage base = stage(c.base, c.scheduler, c.overrides);
    SdxlStage refiner;
    if (!c.refiner.empty()) refiner = stage(c.refiner, c.scheduler, c.overrides);
    auto vae = models().vae->vae(models().loader->open(c.base, "model"));
    SdxlRun r;
    r.prompts = {c.prompt, std::nullopt, "blurry, low quality", std::nullopt};
    r.width = r.height = 64;
    r.steps = c.steps;
    r.batch = c.batch;
    r.guidance_scale = 5.0;
    r.guidance_rescale = c.guidance_rescale;
    r.strength = c.strength;
    r.denoising_end = c.denoising_end;
    GenerationRequest request;
    request.original_size = c.original_size;
    request.crops_coords_top_left = c.crops;
    r.micro = micro_conditioning(request, 64, 64);
    if (c.init_image) r.init_image = image_tensor(read_image_file(fixture("pipeline-inputs/input.png"), 3, "init"));
    if (c.mask) r.mask = mask_tensor(read_image_file(fixture("pipeline-inputs/mask.png"), 1, "mask"));
    if (c.control) {
      const Image map = read_image_file(fixture("pipeline-inputs/control.png"), 3, "control");
      ControlUnit unit;
      unit.net = *models().controlnets->controlnet(models().controlnets->open("tiny-controlnet", "controlnet"));
      unit.image = control_tensor(map);
      unit.scale = 0.7;
      unit.end = 0.8;
      r.controls.push_back(unit);
    }
    // The tiny model is shared by every test of this process: the merge is always undone.
    MergedWeights merged;
    struct Unmerge {
      MergedWeights& merged;
      AdaptableModules modules;
      ~Unmerge() { merged.restore(modules); }
    } unmerge{merged, adaptable(base)};
    if (!c.lora.empty()) {
      const auto adapter = models().loras->adapter(c.lora, "loras[0]");
      const auto plan = plan_lora_stack({{adapter, 0.8, "loras[0]", c.lora}}, lora_target_index(adaptable(base)));
      EXPECT_TRUE(plan.warnings.empty()) << plan.warnings.front();
      merged.merge(plan, adaptable(base));
    }
    auto generator = at::make_generator<at::CPUGeneratorImpl>(42);
    c10::InferenceMode guard;
    return run_sdxl(base, c.refiner.empty() ? nullptr : &refiner, *vae, r, generator, nullptr);
  }

  static void expect_parity(const Case& c) {
    Reference ref("pipelines.safetensors");
    const auto out = run(c);
    const std::string latents_key = c.key == "refiner" ? "refiner.base_latents" : c.key + ".latents";
    if (c.key.rfind("t2i.", 0) == 0 && c.key != "t2i.batch2") {  // the fixtures with .latents
      EXPECT_LE(max_abs_diff(out.latents, ref[latents_key]), kTolerance) << c.key << " latents";
    }
    if (c.key == "refiner") {
      EXPECT_LE(max_abs_diff(out.handover_latents, ref[latents_key]), kTolerance);
    }
    EXPECT_LE(max_abs_diff(out.images, ref[c.key + ".image"]), kTolerance) << c.key << " image";
  }
};

TEST_F(SdxlPipelineParity, Text2ImgEuler) { expect_parity(Case("t2i.euler")); }

TEST_F(SdxlPipelineParity, Text2ImgDpmppTwoMKarras) {
  Case c("t2i.dpmpp_2m_karras");
  c.scheduler = "DPMSolverMultistepScheduler";
  c.overrides = {{"use_karras_sigmas", true}};
  expect_parity(c);
}

TEST_F(SdxlPipelineParity, Text2ImgEulerAncestralDrawsFromTheSeed) {
  Case c("t2i.euler_a");
  c.scheduler = "EulerAncestralDiscreteScheduler";
  expect_parity(c);
}

TEST_F(SdxlPipelineParity, BatchOfTwoWithGuidanceRescaleAndMicroConditioning) {
  Case c("t2i.batch2");
  c.batch = 2;
  c.guidance_rescale = 0.7;
  c.original_size = SizePair{96, 80};
  c.crops = {4, 8};
  expect_parity(c);
}

TEST_F(SdxlPipelineParity, Img2ImgStrength) {
  Case c("i2i");
  c.steps = 5;
  c.strength = 0.6;
  c.init_image = true;
  expect_parity(c);
}

TEST_F(SdxlPipelineParity, InpaintWithFourChannelUnetBlendsTheMask) {
  Case c("inpaint");
  c.steps = 5;
  c.strength = 0.8;
  c.init_image = c.mask = true;
  expect_parity(c);
}

TEST_F(SdxlPipelineParity, InpaintWithNineChannelUnet) {
  Case c("inpaint9");
  c.base = "tiny-sdxl-inpaint";
  c.init_image = c.mask = true;
  expect_parity(c);
}

// Both files hold the same adapter: sd-scripts names (SGM UNet paths, alpha 2 over rank 4) and
// diffusers/peft names (alpha/rank folded into lora_B).
TEST_F(SdxlPipelineParity, LoraInKohyaNamingMergedAtWeightPointEight) {
  Case c("lora");
  c.prompt = "a cozy cabin in the snowy mountains at dusk, 4k";
  c.lora = "tiny_lora_kohya";
  expect_parity(c);
}

TEST_F(SdxlPipelineParity, LoraInPeftNamingMergedAtWeightPointEight) {
  Case c("lora");
  c.prompt = "a cozy cabin in the snowy mountains at dusk, 4k";
  c.lora = "tiny_lora_peft.safetensors";
  expect_parity(c);
}

TEST_F(SdxlPipelineParity, ControlNetWithScaleAndGuidanceEnd) {
  Case c("controlnet");
  c.control = true;
  expect_parity(c);
}

TEST_F(SdxlPipelineParity, BaseThenRefinerAsEnsembleOfExperts) {
  Case c("refiner");
  c.steps = 6;
  c.refiner = "tiny-sdxl-refiner";
  c.denoising_end = 0.7;
  expect_parity(c);
}

}  // namespace
}  // namespace workers
