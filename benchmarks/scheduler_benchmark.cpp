// step() of every scheduler on a 1×4×128×128 latent (a 1024² image), fp32 CPU, 25-step
// schedules; reports time per step. The model output is a fixed tensor: only the scheduler runs.
#include <ATen/CPUGeneratorImpl.h>
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include "schedulers/managers/scheduler_factory.h"

namespace workers {
namespace {

// SDXL's published scheduler_config.json keys that matter to the samplers.
const nlohmann::json kSdxlConfig = {{"beta_start", 0.00085}, {"beta_end", 0.012},
                                    {"beta_schedule", "scaled_linear"}, {"num_train_timesteps", 1000},
                                    {"steps_offset", 1}, {"timestep_spacing", "leading"},
                                    {"clip_sample", false}, {"set_alpha_to_one", false}, {"skip_prk_steps", true}};

void BM_Scheduler_Step(benchmark::State& state, const std::string& class_name) {
  c10::InferenceMode inference;
  auto scheduler = SchedulerFactory().create(class_name, kSdxlConfig);
  auto generator = at::make_generator<at::CPUGeneratorImpl>(42);
  auto model_output = torch::randn({1, 4, 128, 128});
  auto sample = torch::randn({1, 4, 128, 128});
  std::int64_t i = 0;
  scheduler->set_timesteps(25);
  for (auto _ : state) {
    if (i == scheduler->timesteps().size(0)) {
      state.PauseTiming();
      scheduler->set_timesteps(25);
      i = 0;
      state.ResumeTiming();
    }
    const double t = scheduler->timesteps()[i++].item<double>();
    auto scaled = scheduler->scale_model_input(sample, t);
    benchmark::DoNotOptimize(scheduler->step(model_output, t, scaled, &generator).prev_sample);
  }
}

const int kRegistered = [] {
  for (const auto& name : SchedulerFactory::class_names()) {
    benchmark::RegisterBenchmark(("BM_Scheduler_Step/" + name).c_str(), BM_Scheduler_Step, name)
        ->Unit(benchmark::kMicrosecond);
  }
  return 0;
}();

}  // namespace
}  // namespace workers
