// NeuralUpscaler: architecture detection and parity with spandrel for the four tiny fixture models
// (tests/fixtures/upscalers/, references in upscalers.safetensors: fp32, unclamped), tiling
// against the untiled pass, strict loading errors and the 8-bit upscale() path.
#include "postprocessing/workers/neural_upscaler.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "models/io/upscaler_arch.h"
#include "models/nn/esrgan.h"
#include "support/errors.h"
#include "support/tensor_checks.h"
#include "utilities/pil_resample.h"

namespace workers {
namespace {

using testing_support::catch_error;
using testing_support::fixture;
using testing_support::max_abs_diff;
using testing_support::Reference;

// spandrel ran the same fp32 weights in fp32; only the convolution summation order differs.
constexpr double kParityTolerance = 1e-5;
constexpr UpscalerTiling kUntiled{0, 0};

std::unique_ptr<NeuralUpscaler> load_fixture(const std::string& file,
                                             UpscalerTiling tiling = kUntiled,
                                             c10::ScalarType dtype = torch::kFloat32,
                                             c10::Device device = torch::kCPU) {
  return NeuralUpscaler::load(fixture("upscalers/" + file), device, dtype, tiling);
}

// The fixture's "models" metadata: file -> {architecture, scale, shape}.
nlohmann::json fixture_models() {
  auto file = SafetensorsFile::open(fixture("upscalers.safetensors"));
  return nlohmann::json::parse(file->metadata().at("models"));
}

Image pattern_image(int width, int height, int channels) {
  Image image{width, height, channels, {}};
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      for (int c = 0; c < channels; ++c)
        image.pixels.push_back(static_cast<std::uint8_t>((x * 37 + y * 91 + c * 53) % 256));
    }
  }
  return image;
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("neural_upscaler_test_" + name)).string();
}

TEST(NeuralUpscalerParity, EveryFixtureModelMatchesSpandrelInFp32) {
  Reference ref("upscalers.safetensors");
  const auto models = fixture_models();
  ASSERT_EQ(models.size(), 4u);
  for (const auto& [file, info] : models.items()) {
    SCOPED_TRACE(file);
    auto upscaler = load_fixture(file);
    EXPECT_EQ(upscaler->arch().name, info.at("architecture").get<std::string>());
    EXPECT_EQ(upscaler->native_scale(), info.at("scale").get<int>());
    EXPECT_EQ(upscaler->name(), std::filesystem::path(file).stem().string());
    const double err = max_abs_diff(upscaler->run(ref["input"]), ref[file]);
    EXPECT_LE(err, kParityTolerance);
    std::cout << "[ parity  ] " << file << " max abs " << err << "\n";
  }
}

TEST(UpscalerArchDetection, DerivesDimsAndMapsTheOriginalEsrganNames) {
  const auto old = load_fixture("tiny-ESRGAN-oldarch_x4.pth")->arch();
  EXPECT_EQ(old.kind, UpscalerKind::kEsrgan);
  EXPECT_EQ(old.num_upsample, 2);
  EXPECT_EQ(old.shuffle_factor, 1);
  EXPECT_EQ(old.num_grow_ch, 32);
  const std::map<std::string, std::string> keys(old.keys.begin(), old.keys.end());
  EXPECT_EQ(keys.at("model.0.weight"), "conv_first.weight");
  EXPECT_EQ(keys.at("model.1.sub.0.RDB2.conv5.0.bias"), "body.0.rdb2.conv5.bias");
  EXPECT_EQ(keys.at("model.1.sub." + std::to_string(old.num_block) + ".weight"),
            "conv_body.weight");
  EXPECT_EQ(keys.at("model.6.weight"), "conv_up2.weight");
  EXPECT_EQ(keys.at("model.8.bias"), "conv_hr.bias");
  EXPECT_EQ(keys.at("model.10.weight"), "conv_last.weight");

  const auto x2 = load_fixture("tiny-RealESRGAN_x2plus.safetensors")->arch();
  EXPECT_EQ(x2.shuffle_factor, 2);  // conv_first takes 12 = 3·2² channels
  EXPECT_EQ(x2.in_channels, 3);
  EXPECT_EQ(x2.scale, 2);

  const auto compact = load_fixture("tiny-realesr-general-x4v3.pth")->arch();
  EXPECT_EQ(compact.kind, UpscalerKind::kCompact);
  EXPECT_EQ(compact.out_channels, 3);
}

TEST(UpscalerArchDetection, NestedParamsEmaIsPreferredAndBsrganNamesMap) {
  TensorShapes shapes = {{"params_ema.conv_first.weight", {8, 3, 3, 3}},
                         {"params_ema.body.0.rdb1.conv1.weight", {32, 8, 3, 3}},
                         {"params_ema.conv_body.weight", {8, 8, 3, 3}},
                         {"params_ema.conv_last.weight", {3, 8, 3, 3}},
                         {"params.conv_first.weight", {8, 3, 3, 3}},
                         {"params.conv_last.weight", {3, 8, 3, 3}}};
  auto arch = detect_upscaler_arch(shapes);
  EXPECT_EQ(arch.keys.size(), 4u);
  EXPECT_EQ(arch.keys.front().first.rfind("params_ema.", 0), 0u);
  EXPECT_EQ(arch.scale, 1);  // no conv_upN: BasicSR's ×1 needs the 16-channel unshuffle

  TensorShapes bsrgan = {
      {"conv_first.weight", {8, 3, 3, 3}}, {"RRDB_trunk.0.RDB1.conv1.weight", {32, 8, 3, 3}},
      {"trunk_conv.weight", {8, 8, 3, 3}}, {"upconv1.weight", {8, 8, 3, 3}},
      {"upconv2.weight", {8, 8, 3, 3}},    {"HRconv.weight", {8, 8, 3, 3}},
      {"conv_last.weight", {3, 8, 3, 3}}};
  auto b = detect_upscaler_arch(bsrgan);
  EXPECT_EQ(b.scale, 4);
  const std::map<std::string, std::string> keys(b.keys.begin(), b.keys.end());
  EXPECT_EQ(keys.at("RRDB_trunk.0.RDB1.conv1.weight"), "body.0.rdb1.conv1.weight");
  EXPECT_EQ(keys.at("HRconv.weight"), "conv_hr.weight");
}

TEST(UpscalerArchDetection, UnrelatedKeysFailNamingWhatWasFound) {
  TensorShapes shapes = {{"encoder.layers.0.weight", {4, 4}}, {"decoder.proj.bias", {4}}};
  auto caught = catch_error([&] { detect_upscaler_arch(shapes); });
  EXPECT_EQ(caught.code, ErrorCode::kModelLoadError);
  EXPECT_NE(caught.message.find("encoder.layers.0.weight"), std::string::npos) << caught.message;
  EXPECT_NE(caught.message.find("decoder.proj.bias"), std::string::npos) << caught.message;

  // The same through a model file.
  const auto path = temp_path("unrelated.safetensors");
  write_safetensors(path, {{"text_model.embeddings.weight", torch::zeros({2, 2})}});
  auto from_file = catch_error([&] { NeuralUpscaler::load(path, torch::kCPU, torch::kFloat32); });
  std::filesystem::remove(path);
  EXPECT_EQ(from_file.code, ErrorCode::kModelLoadError);
  EXPECT_NE(from_file.message.find("text_model.embeddings.weight"), std::string::npos)
      << from_file.message;
}

TEST(NeuralUpscalerLoad, MissingAndExtraWeightsFailStrictlyNamingThem) {
  auto source = SafetensorsFile::open(fixture("upscalers/tiny-RealESRGAN_x2plus.safetensors"));
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& name : source->names()) {
    if (name != "conv_hr.bias") tensors.emplace_back(name, source->tensor(name));
  }
  tensors.emplace_back("conv_extra.weight", torch::zeros({1}));
  const auto path = temp_path("x2_broken.safetensors");
  write_safetensors(path, tensors);
  auto caught = catch_error([&] { NeuralUpscaler::load(path, torch::kCPU, torch::kFloat32); });
  std::filesystem::remove(path);
  EXPECT_EQ(caught.code, ErrorCode::kModelLoadError);
  EXPECT_NE(caught.message.find("conv_hr.bias"), std::string::npos) << caught.message;
  EXPECT_NE(caught.message.find("conv_extra.weight"), std::string::npos) << caught.message;

  EXPECT_EQ(catch_error([] {
              NeuralUpscaler::load(temp_path("absent.pth"), torch::kCPU, torch::kFloat32);
            }).code,
            ErrorCode::kModelNotFound);
}

// The tiny RRDBNets see ~19 input pixels around each output pixel (17 low-resolution 3×3 convs and
// the upsampling tail), the ×2 one twice that through its unshuffle: with tile_pad past it a tile
// computes exactly what the whole image does, up to summation order.
TEST(NeuralUpscalerTiling, TilesWithContextPastTheReceptiveFieldMatchTheWholeImage) {
  torch::manual_seed(0);
  const auto input = torch::rand({1, 3, 72, 88});
  for (const auto& [file, pad] :
       std::vector<std::pair<std::string, int>>{{"tiny-RealESRGAN_x4plus.pth", 24},
                                                {"tiny-RealESRGAN_x2plus.safetensors", 48},
                                                {"tiny-realesr-general-x4v3.pth", 8}}) {
    SCOPED_TRACE(file);
    auto upscaler = load_fixture(file);
    const auto whole = upscaler->run(input, kUntiled);
    const double exact = max_abs_diff(upscaler->run(input, {32, pad}), whole);
    const double default_pad = max_abs_diff(upscaler->run(input, {32, 10}), whole);
    const double no_pad = max_abs_diff(upscaler->run(input, {32, 0}), whole);
    std::cout << "[ tiling  ] " << file << " tile 32: pad " << pad << " max abs " << exact
              << ", pad 10 " << default_pad << ", pad 0 " << no_pad << "\n";
    EXPECT_LE(exact, 1e-5);
    // An odd tile is rounded to the unshuffle cell, so it still matches.
    EXPECT_LE(max_abs_diff(upscaler->run(input, {27, pad}), whole), 1e-5);
  }
}

TEST(NeuralUpscalerUpscale, OnePassIsTheRoundedClampedTensorPass) {
  auto upscaler = load_fixture("tiny-RealESRGAN_x4plus.pth");
  const auto image = pattern_image(13, 11, 3);
  const auto out = upscaler->upscale_once(image);
  ASSERT_EQ(out.width, 52);
  ASSERT_EQ(out.height, 44);
  ASSERT_EQ(out.channels, 3);
  auto input =
      torch::from_blob(const_cast<std::uint8_t*>(image.pixels.data()), {11, 13, 3}, torch::kUInt8)
          .permute({2, 0, 1})
          .unsqueeze(0)
          .to(torch::kFloat32) /
      255.0;
  auto expected =
      (upscaler->run(input).clamp(0, 1) * 255.0).round().to(torch::kUInt8)[0].permute({1, 2, 0});
  auto got =
      torch::from_blob(const_cast<std::uint8_t*>(out.pixels.data()), {44, 52, 3}, torch::kUInt8);
  EXPECT_TRUE(torch::equal(got, expected.contiguous()));
}

TEST(NeuralUpscalerUpscale, ReachesANonNativeTargetWithPassesThenLanczos) {
  auto upscaler = load_fixture("tiny-RealESRGAN_x2plus.safetensors", {16, 10});
  const auto image = pattern_image(13, 11, 3);
  // 13×11 → 26×22 → 52×44 (two passes: 26 < 37), then Lanczos down to 37×29.
  const auto out = upscaler->upscale(image, 37, 29);
  EXPECT_EQ(out.width, 37);
  EXPECT_EQ(out.height, 29);
  EXPECT_EQ(out.channels, 3);
  const auto expected = pil_resize(upscaler->upscale_once(upscaler->upscale_once(image)), 37, 29,
                                   PilFilter::kLanczos);
  EXPECT_EQ(out.pixels, expected.pixels);

  // Already large enough: no pass, only the resize. A gray image runs as RGB.
  const auto smaller = upscaler->upscale(image, 7, 5);
  EXPECT_EQ(smaller.pixels, pil_resize(image, 7, 5, PilFilter::kLanczos).pixels);
  const auto gray = upscaler->upscale(pattern_image(9, 8, 1), 18, 16);
  EXPECT_EQ(gray.channels, 3);
  EXPECT_EQ(gray.width, 18);
}

TEST(NeuralUpscalerDtype, Bf16OnCpuStaysCloseToFp32) {
  Reference ref("upscalers.safetensors");
  for (const std::string file : {"tiny-RealESRGAN_x4plus.pth", "tiny-realesr-general-x4v3.pth"}) {
    SCOPED_TRACE(file);
    auto upscaler = load_fixture(file, kUntiled, torch::kBFloat16);
    const auto out = upscaler->run(ref["input"]);
    EXPECT_EQ(out.scalar_type(), torch::kFloat32);
    EXPECT_LE(max_abs_diff(out, ref[file]), 0.1);  // bf16 keeps 8 bits of mantissa
  }
}

TEST(NeuralUpscalerDtype, Fp16OnCudaMatchesSpandrel) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  Reference ref("upscalers.safetensors");
  const auto models = fixture_models();
  for (const auto& [file, info] : models.items()) {
    SCOPED_TRACE(file);
    auto fp32 = load_fixture(file, kUntiled, torch::kFloat32, torch::kCUDA);
    auto fp16 = load_fixture(file, {16, 10}, torch::kFloat16, torch::kCUDA);
    EXPECT_LE(max_abs_diff(fp32->run(ref["input"]), ref[file]), 1e-4);  // TF32/cuDNN algorithms
    EXPECT_LE(max_abs_diff(fp16->run(ref["input"], kUntiled), ref[file]), 2e-2);
    EXPECT_LE(max_abs_diff(fp16->run(ref["input"]), ref[file]), 2e-2);
  }
}

}  // namespace
}  // namespace workers
