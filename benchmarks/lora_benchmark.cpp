// LoRA stack switches (restore the previous stack bitwise, merge the next), as a request with a
// different stack pays them: on the tiny fixture model with the fixture's kohya and peft files,
// and on a full-size SDXL UNet (random weights, stabilityai's config) with synthetic rank-32 LoRAs
// over every attention projection (to_q, to_k, to_v, to_out.0 of attn1 and attn2: 140 modules ×
// 4 = 560 weights). Reports ms per switch and peak RSS; never asserts on time.
#include <sys/resource.h>

#include <fstream>

#include <benchmark/benchmark.h>

#include "inference/workers/lora_merge.h"
#include "models/managers/torch_model_managers.h"
#include "models/nn/sdxl_text_encoders.h"

namespace workers {
namespace {

double peak_rss_gb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) * 1024.0 / 1e9;
}

// Alternates between two plans: every iteration is one restore + one merge.
void switch_between(benchmark::State& state, const LoraPlan& a, const LoraPlan& b, const AdaptableModules& modules) {
  MergedWeights merged;
  merged.merge(a, modules);
  bool next_b = true;
  for (auto _ : state) {
    merged.merge(next_b ? b : a, modules);
    next_b = !next_b;
  }
  state.counters["weights"] = static_cast<double>(merged.size());
  state.counters["peak_rss_GB"] = peak_rss_gb();
  merged.restore(modules);
}

void BM_Lora_SwitchTinyKohyaToPeft(benchmark::State& state) {
  ModelConfig config;
  config.model_roots = {SDXL_FIXTURES_DIR};
  config.lora_roots = {std::string(SDXL_FIXTURES_DIR) + "/loras"};
  const auto models =
      make_torch_model_managers(config, "cpu", "float32", SDXL_DATA_DIR, std::make_shared<ModelCache>(nullptr));
  const auto handle = models.loader->open("tiny-sdxl", "model");
  auto unet = models.unet->unet(handle);
  auto encoders = models.text_encoders->text_encoders(handle);
  const AdaptableModules modules{{"unet", unet->ptr().get()},
                                 {"text_encoder", encoders->text_encoder.ptr().get()},
                                 {"text_encoder_2", encoders->text_encoder_2.ptr().get()}};
  const auto index = lora_target_index(modules);
  const auto plan = [&](const std::string& name, double weight) {
    return plan_lora_stack({{models.loras->adapter(name, "loras[0]"), weight, "loras[0]", name}}, index);
  };
  switch_between(state, plan("tiny_lora_kohya", 0.8), plan("tiny_lora_peft", 0.5), modules);
}
BENCHMARK(BM_Lora_SwitchTinyKohyaToPeft)->Unit(benchmark::kMillisecond);

// A rank-32 LoRA (fp16 factors, as files store them) on every attention projection of `unet`.
std::shared_ptr<LoraAdapter> attention_lora(torch::nn::Module& unet, std::int64_t rank) {
  auto adapter = std::make_shared<LoraAdapter>();
  for (const auto& p : unet.named_parameters()) {
    const auto& name = p.key();
    const bool projection = name.find(".attn1.") != std::string::npos || name.find(".attn2.") != std::string::npos;
    if (!projection || p.value().dim() != 2) continue;
    LoraModule m;
    m.name = "unet." + name.substr(0, name.size() - 7);  // without ".weight"
    m.parts["lora_down.weight"] = torch::randn({rank, p.value().size(1)}).to(torch::kHalf) * 0.01;
    m.parts["lora_up.weight"] = torch::randn({p.value().size(0), rank}).to(torch::kHalf) * 0.01;
    m.alpha = static_cast<double>(rank);
    adapter->modules.push_back(std::move(m));
  }
  return adapter;
}

void BM_Lora_SwitchFullSizeSdxlUnetRank32Attention(benchmark::State& state) {
  std::ifstream in(std::string(SDXL_FIXTURES_DIR) + "/configs/sdxl-base/unet/config.json");
  UNet2DConditionModel unet(UNetConfig::from_json(nlohmann::json::parse(in), "sdxl-base/unet"));
  unet->eval();
  const AdaptableModules modules{{"unet", unet.ptr().get()}};
  const auto index = lora_target_index(modules);
  const auto a = attention_lora(*unet, 32), b = attention_lora(*unet, 32);
  const auto plan_a = plan_lora_stack({{a, 0.8, "loras[0]", "a"}}, index);
  const auto plan_b = plan_lora_stack({{b, 0.6, "loras[0]", "b"}}, index);
  state.counters["modules"] = static_cast<double>(plan_a.patches.size());
  switch_between(state, plan_a, plan_b, modules);
}
BENCHMARK(BM_Lora_SwitchFullSizeSdxlUnetRank32Attention)->Unit(benchmark::kMillisecond)->Iterations(4);

}  // namespace
}  // namespace workers
