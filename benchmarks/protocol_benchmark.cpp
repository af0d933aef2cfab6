// Cost of the protocol path a request pays before any tensor work: decode + validate + respond.
#include <benchmark/benchmark.h>

#include "communication/envelope.h"
#include "communication/line_splitter.h"
#include "communication/message_decoder.h"

namespace {

const workers::MessageDecoder& decoder() {
  static const workers::MessageDecoder d(workers::compat::default_translators(), workers::RequestLimits{});
  return d;
}

void BM_MessageDecoder_CanonicalInference(benchmark::State& state) {
  const std::string line = R"({"request_id":"r1","message_type":"inference_request","model":{"base":"sdxl"},
    "prompt":"a photo of a cat, (masterpiece:1.2), detailed","negative_prompt":"blurry","width":1024,
    "height":1024,"steps":30,"guidance_scale":5.0,"scheduler":"DPM++ 2M Karras","seed":42,
    "loras":["style:0.8",{"name":"detail","weight":0.4}],"controlnets":["canny:0.7"]})";
  for (auto _ : state) benchmark::DoNotOptimize(decoder().decode_line(line));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MessageDecoder_CanonicalInference);

void BM_MessageDecoder_EnhancedSdxl(benchmark::State& state) {
  const std::string line = R"({"action":"generate_sdxl_enhanced","request_id":"cs","Model":{"Base":"sdxl"},
    "Scheduler":{"Type":"Euler a","Steps":30},"Hyperparameters":{"GuidanceScale":7,"Seed":1},
    "Conditioning":{"Prompt":"a castle","LoRAs":[{"Name":"style","Weight":0.6}]}})";
  for (auto _ : state) benchmark::DoNotOptimize(decoder().decode_line(line));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MessageDecoder_EnhancedSdxl);

void BM_Envelope_ProgressEvent(benchmark::State& state) {
  for (auto _ : state) {
    benchmark::DoNotOptimize(workers::make_progress("r1", {12, 30, "denoising", nlohmann::json::object()}, 3.5).dump());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Envelope_ProgressEvent);

void BM_LineSplitter_Throughput(benchmark::State& state) {
  std::string chunk;
  for (int i = 0; i < 1000; ++i) chunk += R"({"request_id":"x","message_type":"status_request"})" "\n";
  std::size_t lines = 0;
  workers::LineSplitter splitter(1 << 20, [&](std::string_view) { ++lines; }, [](std::size_t) {});
  for (auto _ : state) splitter.feed(chunk);
  state.SetBytesProcessed(state.iterations() * chunk.size());
}
BENCHMARK(BM_LineSplitter_Throughput);

}  // namespace
