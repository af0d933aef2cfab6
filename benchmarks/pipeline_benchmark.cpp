// The SDXL pipeline end to end on the tiny fixture model (ms per image, 64×64, 20 steps, CFG), and
// the per-step work outside the UNet at SDXL's real latent size (1×4×128×128 under CFG):
// latent doubling, scale_model_input, guidance (+ rescale), scheduler.step; plus the final
// conversion of a 1024² image to 8 bits. fp32 CPU. Reports; never asserts on time.
#include <ATen/CPUGeneratorImpl.h>
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include "inference/workers/latents.h"
#include "inference/workers/sdxl_pipeline.h"
#include "models/managers/torch_model_managers.h"
#include "models/nn/sdxl_text_encoders.h"
#include "schedulers/managers/scheduler_factory.h"

namespace workers {
namespace {

const TorchModelManagers& models() {
  static const TorchModelManagers managers = [] {
    ModelConfig config;
    config.model_roots = {SDXL_FIXTURES_DIR};
    return make_torch_model_managers(config, "cpu", "float32", SDXL_DATA_DIR, std::make_shared<ModelCache>(nullptr));
  }();
  return managers;
}

void BM_Pipeline_TinyText2Img(benchmark::State& state) {
  c10::InferenceMode guard;
  const auto handle = models().loader->open("tiny-sdxl", "model");
  auto vae = models().vae->vae(handle);
  SdxlStage stage;
  stage.unet = *models().unet->unet(handle);
  stage.encoders = *models().text_encoders->text_encoders(handle);
  SdxlRun run;
  run.prompts = {"a photo of an astronaut riding a horse on mars", std::nullopt, "blurry", std::nullopt};
  run.width = run.height = 64;
  run.steps = state.range(0);
  run.micro = micro_conditioning(GenerationRequest{}, 64, 64);
  for (auto _ : state) {
    stage.scheduler = SchedulerFactory().create("EulerDiscreteScheduler", models().loader->scheduler_config(handle));
    auto generator = at::make_generator<at::CPUGeneratorImpl>(42);
    benchmark::DoNotOptimize(run_sdxl(stage, nullptr, *vae, run, generator, nullptr).images);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Pipeline_TinyText2Img)->Arg(20)->Unit(benchmark::kMillisecond);

void BM_Pipeline_StepOverheadOutsideUnet(benchmark::State& state) {
  c10::InferenceMode guard;
  auto scheduler = SchedulerFactory().create(state.range(0) ? "EulerAncestralDiscreteScheduler" : "EulerDiscreteScheduler",
                                             models().loader->scheduler_config(models().loader->open("tiny-sdxl", "model")));
  auto generator = at::make_generator<at::CPUGeneratorImpl>(42);
  auto latents = torch::randn({1, 4, 128, 128});
  const auto unet_output = torch::randn({2, 4, 128, 128});  // stands in for the UNet
  std::int64_t i = 0;
  scheduler->set_timesteps(30);
  for (auto _ : state) {
    if (i == scheduler->timesteps().size(0)) {
      state.PauseTiming();
      scheduler->set_timesteps(30);
      i = 0;
      state.ResumeTiming();
    }
    const double t = scheduler->timesteps()[i++].item<double>();
    auto input = scheduler->scale_model_input(torch::cat({latents, latents}, 0), t);
    benchmark::DoNotOptimize(torch::full({2}, t, torch::kFloat));
    benchmark::DoNotOptimize(input);
    auto guided = apply_guidance(unet_output, 5.0, 0.7);
    latents = scheduler->step(guided, t, latents, &generator).prev_sample;
  }
  state.SetLabel(state.range(0) ? "Euler a, guidance_rescale 0.7" : "Euler, guidance_rescale 0.7");
}
BENCHMARK(BM_Pipeline_StepOverheadOutsideUnet)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

void BM_Pipeline_ToEightBit1024(benchmark::State& state) {
  auto images = torch::rand({1, 1024, 1024, 3});
  for (auto _ : state) benchmark::DoNotOptimize(to_images(images));
}
BENCHMARK(BM_Pipeline_ToEightBit1024)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace workers
