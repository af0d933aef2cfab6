// Forward passes of the networks on CPU in fp32: the full-size SDXL UNet (random weights, config
// written below as published by stabilityai) at a 64×64 latent, batch 2, and the tiny fixtures.
// Reports ms per forward and the process's peak RSS; never asserts on time.
#include <sys/resource.h>

#include <benchmark/benchmark.h>

#include "models/nn/networks.h"

namespace workers {
namespace {

double peak_rss_bytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) * 1024.0;  // Linux reports KiB
}

// stabilityai/stable-diffusion-xl-base-1.0 unet/config.json (the keys that shape the network).
const char* kSdxlBaseUNet = R"({
  "_class_name": "UNet2DConditionModel", "act_fn": "silu", "addition_embed_type": "text_time",
  "addition_time_embed_dim": 256, "attention_head_dim": [5, 10, 20], "block_out_channels": [320, 640, 1280],
  "center_input_sample": false, "cross_attention_dim": 2048,
  "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
  "downsample_padding": 1, "flip_sin_to_cos": true, "freq_shift": 0, "in_channels": 4, "layers_per_block": 2,
  "mid_block_scale_factor": 1, "norm_eps": 1e-05, "norm_num_groups": 32, "out_channels": 4,
  "projection_class_embeddings_input_dim": 2816, "sample_size": 128, "transformer_layers_per_block": [1, 2, 10],
  "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"], "upcast_attention": false,
  "use_linear_projection": true
})";
constexpr std::int64_t kSdxlBaseUNetParameters = 2567463684;  // configs/param_counts.json

std::int64_t parameter_count(torch::nn::Module& module) {
  std::int64_t n = 0;
  for (const auto& p : module.parameters()) n += p.numel();
  return n;
}

void run_unet(benchmark::State& state, UNet2DConditionModel unet, std::int64_t latent, std::int64_t tokens) {
  const auto& c = unet->config();
  const std::int64_t batch = 2;
  const std::int64_t pooled = c.projection_class_embeddings_input_dim - 6 * c.addition_time_embed_dim;
  auto sample = torch::randn({batch, c.in_channels, latent, latent});
  auto context = torch::randn({batch, tokens, c.cross_attention_dim[0]});
  auto text_embeds = torch::randn({batch, pooled});
  auto time_ids = torch::tensor({1024.0f, 1024.0f, 0.0f, 0.0f, 1024.0f, 1024.0f}).repeat({batch, 1});
  for (auto _ : state) {
    benchmark::DoNotOptimize(unet->forward(sample, torch::tensor(500.0), context, text_embeds, time_ids));
  }
  state.counters["params"] = static_cast<double>(parameter_count(*unet));
  state.counters["peak_rss_GB"] = peak_rss_bytes() / 1e9;
}

void BM_UNet_FullSizeSdxl64x64Batch2(benchmark::State& state) {
  c10::InferenceMode inference;
  torch::NoGradGuard no_grad;
  UNet2DConditionModel unet(UNetConfig::from_json(nlohmann::json::parse(kSdxlBaseUNet), "sdxl-base/unet"));
  unet->eval();
  if (parameter_count(*unet) != kSdxlBaseUNetParameters) {
    state.SkipWithError("full-size UNet parameter count differs from SDXL base");
    return;
  }
  run_unet(state, unet, 64, 77);
}
BENCHMARK(BM_UNet_FullSizeSdxl64x64Batch2)->Unit(benchmark::kMillisecond)->Iterations(2);

void BM_UNet_Tiny8x8Batch2(benchmark::State& state) {
  c10::InferenceMode inference;
  run_unet(state, build_unet(component_source(SDXL_FIXTURES_DIR "/tiny-sdxl", "unet")), 8, 77);
}
BENCHMARK(BM_UNet_Tiny8x8Batch2)->Unit(benchmark::kMillisecond);

void BM_Vae_TinyDecode64x64(benchmark::State& state) {
  c10::InferenceMode inference;
  auto vae = build_vae(component_source(SDXL_FIXTURES_DIR "/tiny-sdxl", "vae"));
  auto z = torch::randn({1, 4, 64, 64});
  for (auto _ : state) benchmark::DoNotOptimize(vae->decode(z));
  state.counters["peak_rss_GB"] = peak_rss_bytes() / 1e9;
}
BENCHMARK(BM_Vae_TinyDecode64x64)->Unit(benchmark::kMillisecond);

void BM_ClipText_TinyBothEncoders(benchmark::State& state) {
  c10::InferenceMode inference;
  auto te1 = build_clip_text(component_source(SDXL_FIXTURES_DIR "/tiny-sdxl", "text_encoder"));
  auto te2 = build_clip_text(component_source(SDXL_FIXTURES_DIR "/tiny-sdxl", "text_encoder_2"));
  auto ids = torch::randint(0, 49407, {2, 77}, torch::kLong);
  for (auto _ : state) {
    benchmark::DoNotOptimize(te1->forward(ids).last_hidden_state);
    benchmark::DoNotOptimize(te2->forward(ids).text_embeds);
  }
}
BENCHMARK(BM_ClipText_TinyBothEncoders)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace workers
