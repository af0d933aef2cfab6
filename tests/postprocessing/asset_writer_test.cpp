#include "postprocessing/asset_writer.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "postprocessing/image_codec.h"
#include "support/errors.h"

namespace workers {
namespace {

namespace fs = std::filesystem;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The text of a PNG's one text chunk, which must be A1111's "parameters".
std::string parameters_chunk(const std::string& png) {
  const auto chunks = png_text_chunks(png);
  EXPECT_EQ(chunks.size(), 1u);
  if (chunks.size() != 1) return "";
  EXPECT_EQ(chunks[0].first, "parameters");
  return chunks[0].second;
}

Image solid(int w, int h, std::uint8_t v) { return Image{w, h, 3, std::vector<std::uint8_t>(w * h * 3, v)}; }

struct TempRoot {
  fs::path path = fs::path(testing::TempDir()) / ("assets_" + std::to_string(::getpid()));
  TempRoot() { fs::remove_all(path); }
  ~TempRoot() { fs::remove_all(path); }
};

TEST(AssetWriter, WritesABatchWithParametersAndMetadataButNoThumbnail) {
  TempRoot root;
  AssetWriter writer(root.path.string());
  nlohmann::json meta = {{"prompt", "a cat, (fluffy:1.2)"}, {"negative_prompt", "blurry"}, {"steps", 4},
                         {"scheduler", "Euler a"}, {"guidance_scale", 5.0}, {"seed", 42}, {"model", "tiny"}};
  AssetOptions options;
  options.name = "job-1";
  options.return_base64 = true;
  auto assets = writer.write({solid(64, 48, 10), solid(64, 48, 200)}, meta, options);
  ASSERT_EQ(assets.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    const auto& a = assets[i];
    const fs::path path = a["path"].get<std::string>();
    EXPECT_EQ(path, fs::weakly_canonical(root.path) / ("job-1-" + std::to_string(i) + ".png"));
    const auto bytes = slurp(path.string());
    EXPECT_EQ(a["bytes"], bytes.size());
    EXPECT_EQ(a["base64"], base64_encode(bytes));
    EXPECT_EQ(a["metadata"]["seed"], 42);
    EXPECT_EQ(a["metadata"]["batch_index"], i);
    EXPECT_EQ(a["metadata"]["width"], 64);
    EXPECT_FALSE(a.contains("thumbnail"));  // the thumbnail stage adds it
    EXPECT_EQ(parameters_chunk(bytes),
              "a cat, (fluffy:1.2)\nNegative prompt: blurry\nSteps: 4, Sampler: Euler a, CFG scale: 5, Seed: 42, "
              "Size: 64x48, Model: tiny");
  }
}

TEST(AssetWriter, ParametersCarryLorasInThePromptAndControlNetUnitsAsA1111Writes) {
  TempRoot root;
  AssetWriter writer(root.path.string());
  nlohmann::json meta = {{"prompt", "a cabin"}, {"steps", 4}, {"seed", 1},
                         {"loras", {{{"name", "/srv/loras/styles/film_grain.safetensors"}, {"weight", 0.6}},
                                    {{"name", "detail"}, {"weight", 1}}}},
                         {"controlnets", {{{"model", "controlnet-canny-sdxl-1.0"}, {"preprocess", "canny"},
                                           {"scale", 0.7}, {"start", 0.0}, {"end", 0.8}}}}};
  AssetOptions options;
  options.name = "adapters";
  const auto assets = writer.write({solid(8, 8, 1)}, meta, options);
  EXPECT_EQ(parameters_chunk(slurp(assets[0]["path"].get<std::string>())),
            "a cabin <lora:film_grain:0.6> <lora:detail:1>\nSteps: 4, Seed: 1, Size: 8x8, ControlNet 0: \"Module: canny, "
            "Model: controlnet-canny-sdxl-1.0, Weight: 0.7, Guidance Start: 0, Guidance End: 0.8\"");
}

TEST(AssetWriter, SingleImageNameFormatsAndConfinement) {
  TempRoot root;
  AssetWriter writer(root.path.string());
  AssetOptions options;
  options.name = "../../etc/passwd";
  options.format = "webp";
  auto assets = writer.write({solid(8, 8, 1)}, nlohmann::json::object(), options);
  const fs::path path = assets[0]["path"].get<std::string>();
  EXPECT_EQ(path.parent_path(), fs::weakly_canonical(root.path));  // the name cannot leave the root
  EXPECT_EQ(path.filename(), "_._.._etc_passwd-2bef2c0b.webp");  // sanitised, tagged with the id's hash
  EXPECT_EQ(sanitize_file_stem(".hidden"), "_hidden");
  EXPECT_EQ(sanitize_file_stem(""), "image");
  options.format = "bmp";
  EXPECT_EQ(testing_support::catch_error([&] { writer.write({solid(8, 8, 1)}, {}, options); }).field, "output_format");
}

TEST(AssetWriter, Base64OnlyWritesNoFile) {
  TempRoot root;
  AssetOptions options;
  options.name = "x";
  options.write_file = false;
  options.return_base64 = true;
  options.format = "jpeg";
  auto assets = AssetWriter(root.path.string()).write({solid(8, 8, 1)}, {}, options);
  EXPECT_FALSE(assets[0].contains("path"));
  EXPECT_FALSE(fs::exists(root.path / "x.jpg"));
  EXPECT_FALSE(assets[0]["base64"].get<std::string>().empty());
}

}  // namespace
}  // namespace workers
