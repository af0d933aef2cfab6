#include "models/io/model_tools.h"

#include <filesystem>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "models/io/diffusers_folder.h"
#include "models/io/safetensors_file.h"
#include "utilities/error.h"

namespace workers {
namespace {

namespace fs = std::filesystem;
const std::string kFixtures = SDXL_FIXTURES_DIR;
const std::string kSingle = kFixtures + "/tiny-sdxl-single-file.safetensors";
const std::string kFolder = kFixtures + "/tiny-sdxl";

TEST(ModelTools, ConvertThenLoadGivesTheSameTensorsAgain) {
  const fs::path out = fs::path(testing::TempDir()) / "converted-tiny";
  fs::remove_all(out);
  ConvertOptions options;
  options.model = kSingle;
  options.output = out.string();
  options.config_from = kFolder;
  auto summary = convert_checkpoint(options);
  EXPECT_EQ(summary["kind"], "sdxl-base");
  EXPECT_TRUE(summary["warnings"].empty()) << summary["warnings"].dump();

  auto converted = DiffusersFolder::open(out.string());
  auto reference = DiffusersFolder::open(kFolder);
  for (const char* component : {"unet", "vae", "text_encoder", "text_encoder_2"}) {
    auto mine = converted.component(component);
    auto theirs = reference.component(component);
    EXPECT_EQ(mine.config, theirs.config) << component;
    auto a = SafetensorsFile::open(mine.weight_files.at(0));
    auto b = SafetensorsFile::open(theirs.weight_files.at(0));
    ASSERT_EQ(a->names().size(), b->names().size()) << component;
    for (const auto& name : b->names()) {
      ASSERT_TRUE(a->contains(name)) << component << ": " << name;
      EXPECT_TRUE(torch::equal(a->tensor(name), b->tensor(name))) << component << ": " << name;
    }
  }
  EXPECT_TRUE(converted.has_component("tokenizer_2"));
  EXPECT_TRUE(converted.component("scheduler").config.contains("beta_schedule"));
  fs::remove_all(out);
}

TEST(ModelTools, ConvertWithoutTokenizersSaysSoAndRefusesToOverwrite) {
  const fs::path out = fs::path(testing::TempDir()) / "converted-no-tok";
  fs::remove_all(out);
  ConvertOptions options{kSingle, out.string(), "fp32", "", ""};
  auto summary = convert_checkpoint(options);
  EXPECT_EQ(summary["warnings"].size(), 2u);
  auto unet = SafetensorsFile::open((out / "unet" / "diffusion_pytorch_model.safetensors").string());
  EXPECT_EQ(unet->tensor("conv_in.weight").scalar_type(), torch::kFloat);
  EXPECT_THROW(convert_checkpoint(options), Error);  // not empty now
  options.dtype = "int4";
  EXPECT_THROW(convert_checkpoint(options), Error);
  fs::remove_all(out);
}

TEST(ModelTools, InspectAgreesBetweenBothLayouts) {
  auto single = inspect_model(kSingle, kFolder);
  auto folder = inspect_model(kFolder);
  EXPECT_EQ(single["layout"], "single_file");
  EXPECT_EQ(folder["layout"], "diffusers");
  EXPECT_EQ(single["kind"], "sdxl-base");
  EXPECT_EQ(folder["kind"], "sdxl-base");
  std::map<std::string, std::int64_t> params;
  for (const auto& c : folder["components"]) params[c["name"]] = c["parameters"];
  for (const auto& c : single["components"]) {
    EXPECT_EQ(c["parameters"].get<std::int64_t>(), params.at(c["name"])) << c["name"];
  }
}

}  // namespace
}  // namespace workers
