// The neural upscaler on CPU: a full-size Real-ESRGAN x4plus (RRDBNet, 23 blocks, 64 features,
// growth 32; random weights) on a 256×256 image, tiled (128-pixel tiles, Real-ESRGAN's 10-pixel
// context) and untiled. Reports ms per image and the peak RSS of each case; never asserts on time.
// Also, once each: the seams of tiling (max/mean |tiled - untiled| at 10 and 32 pixels of context),
// and the peak RSS of a bounded-memory 1024² -> 4096² upscale of 8-bit pixels (256-pixel tiles)
// with a 1-block RRDBNet (a tile's activations are those of the 23-block one; only time differs).
// Run one case per process (--benchmark_filter) for a peak unaffected by the cases before it.
// benchmarks/reference/realesrgan_pytorch.py is the same network in PyTorch, for comparison.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <cstdint>
#include <fstream>
#include <string>

#include "models/nn/esrgan.h"
#include "postprocessing/workers/neural_upscaler.h"

namespace workers {
namespace {

constexpr int kSide = 256;

// VmHWM (peak resident set) of this process, in MiB; 0 where /proc is unavailable.
double peak_rss_mib() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmHWM:", 0) == 0)
      return std::stod(line.substr(6)) / 1024.0;  // "VmHWM:  123 kB"
  }
  return 0.0;
}

// VmRSS (current resident set) of this process, in MiB.
double rss_mib() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return 0.0;
}

// Writing 5 to clear_refs resets VmHWM to the current RSS (Linux >= 4.0), so each case reports
// its own peak rather than the largest one so far.
void reset_peak_rss() { std::ofstream("/proc/self/clear_refs") << "5"; }

UpscalerArch realesrgan_x4plus(int num_block = 23) {
  UpscalerArch arch;
  arch.kind = UpscalerKind::kEsrgan;
  arch.name = "ESRGAN";
  arch.scale = 4;
  arch.num_feat = 64;
  arch.num_block = num_block;
  arch.num_grow_ch = 32;
  arch.num_upsample = 2;
  return arch;
}

void run_upscaler(benchmark::State& state, UpscalerTiling tiling) {
  torch::manual_seed(0);
  const auto arch = realesrgan_x4plus();
  NeuralUpscaler upscaler("RealESRGAN_x4plus-random", arch, make_upscaler_network(arch),
                          torch::kCPU, torch::kFloat32, tiling);
  const auto image = torch::rand({1, 3, kSide, kSide});
  state.counters["rss_before_MiB"] = rss_mib();  // libraries, weights and input
  state.counters["threads"] = torch::get_num_threads();
  reset_peak_rss();
  for (auto _ : state) {
    auto out = upscaler.run(image);
    benchmark::DoNotOptimize(out.data_ptr());
  }
  state.counters["peak_rss_MiB"] = peak_rss_mib();
  state.counters["tile"] = tiling.tile_size;
  state.SetItemsProcessed(state.iterations());  // images
}

void BM_NeuralUpscaler_X4PlusTiled128(benchmark::State& state) { run_upscaler(state, {128, 10}); }
void BM_NeuralUpscaler_X4PlusUntiled(benchmark::State& state) { run_upscaler(state, {0, 0}); }

BENCHMARK(BM_NeuralUpscaler_X4PlusTiled128)->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_NeuralUpscaler_X4PlusUntiled)->Iterations(1)->Unit(benchmark::kMillisecond);

// Seams: |tiled - untiled| of the 256×256 output with 128-pixel tiles at 10 and 32 pixels of
// context (one untiled and two tiled runs). Random weights damp the trunk (default init, 0.2
// residual scales), so the effective receptive field is a few pixels: with 10 of context the
// difference is float rounding (~1e-6 at pad 10 and 32 alike; PyTorch: 1.4 at pad 0). A trained
// model reaches further; this bounds the tiling arithmetic, not a trained model's seams.
void BM_NeuralUpscaler_X4PlusSeams(benchmark::State& state) {
  torch::manual_seed(0);
  const auto arch = realesrgan_x4plus();
  NeuralUpscaler upscaler("RealESRGAN_x4plus-random", arch, make_upscaler_network(arch),
                          torch::kCPU, torch::kFloat32, {0, 0});
  const auto image = torch::rand({1, 3, kSide, kSide});
  for (auto _ : state) {
    const auto untiled = upscaler.run(image, {0, 0});
    for (int pad : {10, 32}) {
      const auto diff = (upscaler.run(image, {128, pad}) - untiled).abs();
      const std::string p = "pad" + std::to_string(pad);
      state.counters["max_abs_" + p] = diff.max().item<double>();
      state.counters["mean_abs_" + p] = diff.mean().item<double>();
    }
    state.counters["out_mean_abs"] = untiled.abs().mean().item<double>();
    state.counters["out_std"] = untiled.std().item<double>();
  }
}

// Bounded memory: 1024×1024 8-bit RGB -> 4096×4096 through upscale() with the default tiling
// (256-pixel tiles, 10 of context), 1 RRDB block instead of 23 to keep it to about a minute.
void BM_NeuralUpscaler_Rrdb1Tiled256_1024(benchmark::State& state) {
  torch::manual_seed(0);
  const auto arch = realesrgan_x4plus(1);
  NeuralUpscaler upscaler("RRDBNet1-random", arch, make_upscaler_network(arch), torch::kCPU,
                          torch::kFloat32, {256, 10});
  constexpr int kBig = 1024;
  const auto pixels = torch::randint(0, 256, {kBig * kBig * 3}, torch::kUInt8);
  Image image;
  image.width = image.height = kBig;
  image.channels = 3;
  image.pixels.assign(pixels.data_ptr<std::uint8_t>(),
                      pixels.data_ptr<std::uint8_t>() + kBig * kBig * 3);
  state.counters["rss_before_MiB"] = rss_mib();
  state.counters["threads"] = torch::get_num_threads();
  reset_peak_rss();
  for (auto _ : state) {
    auto out = upscaler.upscale(image, 4 * kBig, 4 * kBig);
    benchmark::DoNotOptimize(out.pixels.data());
  }
  state.counters["peak_rss_MiB"] = peak_rss_mib();
  state.counters["tile"] = 256;
}

BENCHMARK(BM_NeuralUpscaler_X4PlusSeams)->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_NeuralUpscaler_Rrdb1Tiled256_1024)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace workers
