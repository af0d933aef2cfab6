// Tiled and sliced VAE runs. run_tiled's layout and blending are checked exactly on maps that
// tiling cannot change (identity, nearest ×2); the tiled decode of a real (tiny) VAE is an
// approximation (GroupNorm statistics and mid-block attention see one tile, not the image), so
// it is checked against the untiled decode with a bound justified below.
#include <gtest/gtest.h>

#include "models/nn/networks.h"
#include "support/tensor_checks.h"

namespace workers {
namespace {

using testing_support::fixture;
using testing_support::max_abs_diff;

TEST(RunTiled, IdentityIsReproducedExactlyOverEveryOverlapAndEdge) {
  auto x = torch::randn({1, 2, 37, 50});  // not a multiple of the tile stride: ragged edge tiles
  auto y = run_tiled(x, 16, 16, 0.25, [](const at::Tensor& t) { return t.clone(); });
  EXPECT_TRUE(torch::allclose(y, x, 0.0, 1e-6));
}

TEST(RunTiled, UpsamplingTilesAssembleTheUpsampledImage) {
  auto x = torch::randn({2, 3, 24, 24});
  auto up = [](const at::Tensor& t) { return t.repeat_interleave(2, 2).repeat_interleave(2, 3); };
  EXPECT_TRUE(torch::allclose(run_tiled(x, 8, 16, 0.25, up), up(x), 0.0, 1e-6));
}

// A smooth latent (bilinear upsampling of 4×4 noise) as real latents of natural images are.
at::Tensor smooth_latent(std::int64_t side) {
  torch::manual_seed(7);
  auto coarse = torch::randn({1, 4, 4, 4});
  namespace F = torch::nn::functional;
  return F::interpolate(coarse, F::InterpolateFuncOptions()
                                    .size(std::vector<std::int64_t>{side, side})
                                    .mode(torch::kBilinear)
                                    .align_corners(false));
}

double correlation(const at::Tensor& a, const at::Tensor& b) {
  auto x = a.flatten().to(torch::kFloat64), y = b.flatten().to(torch::kFloat64);
  x = x - x.mean();
  y = y - y.mean();
  return ((x * y).sum() / (x.norm() * y.norm())).item<double>();
}

// Per-tile GroupNorm statistics are the approximation of tiled decoding (diffusers documents the
// resulting colour shifts). A random-weight tiny VAE (8 groups of 2–4 channels) is about as
// sensitive to them as a network gets, so the bound is on the image, not on pixels: measured on
// this fixture, mean |tiled − untiled| = 0.31 · std(untiled) and correlation 0.83. A misplaced or
// flipped tile makes those regions uncorrelated (error ≈ 1.1 · std, correlation → 0);
// placement and blending themselves are proved exact by the RunTiled tests above.
TEST(AutoencoderKL, TiledDecodeOfA64LatentMatchesUntiled) {
  c10::InferenceMode inference;
  auto vae = build_vae(component_source(fixture("tiny-sdxl"), "vae"));
  auto z = smooth_latent(64);
  auto whole = vae->decode(z);
  VaeRunOptions tiled;
  tiled.tiled = true;
  tiled.tile_sample_size = 384;  // 48-latent tiles, stride 36: 2×2 tiles, 96-pixel blends
  auto tiles = vae->decode(z, tiled);
  ASSERT_EQ(tiles.sizes(), whole.sizes());
  const double spread = whole.std().item<double>();
  const double mean_error = (tiles - whole).abs().mean().item<double>();
  EXPECT_LE(mean_error, 0.45 * spread) << "mean " << mean_error << " std " << spread;
  EXPECT_GE(correlation(tiles, whole), 0.75);
}

TEST(AutoencoderKL, TilingIsSkippedWhenTheInputFitsOneTile) {
  c10::InferenceMode inference;
  auto vae = build_vae(component_source(fixture("tiny-sdxl"), "vae"));
  auto z = smooth_latent(8);  // tiny VAE sample_size 64 = one 8-latent tile
  VaeRunOptions tiled;
  tiled.tiled = true;
  EXPECT_TRUE(torch::equal(vae->decode(z, tiled), vae->decode(z)));
}

TEST(AutoencoderKL, TiledEncodeMatchesUntiledOnASmoothImage) {
  c10::InferenceMode inference;
  auto vae = build_vae(component_source(fixture("tiny-sdxl"), "vae"));
  auto image = vae->decode(smooth_latent(32)).clamp(-1, 1);  // 256×256
  VaeRunOptions tiled;
  tiled.tiled = true;
  tiled.tile_sample_size = 192;
  auto whole = vae->encode(image).mean;
  auto tiles = vae->encode(image, tiled).mean;
  ASSERT_EQ(tiles.sizes(), whole.sizes());
  // The same approximation as the tiled decode above; measured 0.20 · std, correlation 0.94.
  const double mean_error = (tiles - whole).abs().mean().item<double>();
  EXPECT_LE(mean_error, 0.3 * whole.std().item<double>()) << mean_error << " " << whole.std().item<double>();
  EXPECT_GE(correlation(tiles, whole), 0.85);
}

TEST(AutoencoderKL, SlicedDecodeAndEncodeEqualTheBatchedRuns) {
  c10::InferenceMode inference;
  auto vae = build_vae(component_source(fixture("tiny-sdxl"), "vae"));
  torch::manual_seed(11);
  auto z = torch::randn({3, 4, 8, 8});
  VaeRunOptions sliced;
  sliced.sliced = true;
  // Per-sample GroupNorm makes slicing exact in exact arithmetic; in fp32 the convolutions'
  // GEMM blocking differs between batch 3 and batch 1, so ~30 chained convs differ by a few
  // ulps: measured ≤ 3.7e-6 of the output range over 20 seeds, bound 2e-5.
  auto batched = vae->decode(z);
  EXPECT_LE(max_abs_diff(vae->decode(z, sliced), batched), 2e-5 * batched.abs().max().item<double>());
  auto image = torch::rand({3, 3, 64, 64}) * 2 - 1;
  auto mean = vae->encode(image).mean;
  EXPECT_LE(max_abs_diff(vae->encode(image, sliced).mean, mean), 2e-5 * mean.abs().max().item<double>());
}

TEST(AutoencoderKL, HalfPrecisionUpcastsWhenTheConfigForcesIt) {
  VaeConfig config;
  config.force_upcast = true;
  EXPECT_EQ(vae_compute_dtype(config, torch::kHalf), torch::kFloat);
  EXPECT_EQ(vae_compute_dtype(config, torch::kBFloat16), torch::kBFloat16);
  config.force_upcast = false;
  EXPECT_EQ(vae_compute_dtype(config, torch::kHalf), torch::kHalf);
}

}  // namespace
}  // namespace workers
